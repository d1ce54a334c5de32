<?php
/**
 * Settings → Score Ticker: the server's address (the Settings API), and what the server says about
 * its widget, asked afresh on every view of the page.
 *
 * @package ScoreTicker
 */

defined( 'ABSPATH' ) || exit;

/** The option, its section and its field. */
function score_ticker_register_settings() {
	register_setting(
		'score_ticker',
		SCORE_TICKER_OPTION,
		array(
			'type'              => 'string',
			'default'           => '',
			'sanitize_callback' => 'score_ticker_sanitize_server',
			'show_in_rest'      => false,
		)
	);
	add_settings_section( 'score_ticker_server', __( 'Server', 'score-ticker' ), 'score_ticker_server_section', 'score-ticker' );
	add_settings_field(
		SCORE_TICKER_OPTION,
		__( 'Server address', 'score-ticker' ),
		'score_ticker_server_field',
		'score-ticker',
		'score_ticker_server',
		array( 'label_for' => SCORE_TICKER_OPTION )
	);
}

function score_ticker_add_settings_page() {
	add_options_page( __( 'Score Ticker', 'score-ticker' ), __( 'Score Ticker', 'score-ticker' ), 'manage_options', 'score-ticker', 'score_ticker_settings_page' );
}

/**
 * An http(s) address, scheme, host, port and path only, without a trailing slash. Anything else is
 * refused with a message, and the address saved before stays.
 */
function score_ticker_sanitize_server( $value ) {
	$value = trim( (string) $value );
	if ( '' === $value ) {
		return '';
	}
	$url   = esc_url_raw( $value, array( 'http', 'https' ) );
	$parts = wp_parse_url( $url );
	if ( '' === $url || empty( $parts['host'] ) || isset( $parts['query'] ) || isset( $parts['fragment'] ) || isset( $parts['user'] ) ) {
		add_settings_error( SCORE_TICKER_OPTION, 'score_ticker_bad_address', __( 'The server address must be an http:// or https:// address, like https://scores.example.com.', 'score-ticker' ) );
		return get_option( SCORE_TICKER_OPTION, '' );
	}
	return untrailingslashit( $url );
}

function score_ticker_server_section() {
	echo '<p>' . esc_html__( 'The scoreticker server the tickers connect to. The widget is loaded from it, pinned with the integrity it publishes at /api/v1/widget.', 'score-ticker' ) . '</p>';
}

function score_ticker_server_field() {
	printf(
		'<input type="url" class="regular-text code" id="%1$s" name="%1$s" value="%2$s" placeholder="https://scores.example.com">',
		esc_attr( SCORE_TICKER_OPTION ),
		esc_attr( score_ticker_server() )
	);
}

function score_ticker_settings_page() {
	if ( ! current_user_can( 'manage_options' ) ) {
		return;
	}
	score_ticker_forget_widget();
	$widget = score_ticker_widget();
	echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1><form action="options.php" method="post">';
	settings_fields( 'score_ticker' );
	do_settings_sections( 'score-ticker' );
	submit_button();
	echo '</form><h2>' . esc_html__( 'Widget', 'score-ticker' ) . '</h2>';
	if ( is_wp_error( $widget ) ) {
		echo '<p id="score-ticker-widget-error">' . esc_html( $widget->get_error_message() ) . '</p>';
	} else {
		echo '<table class="form-table" id="score-ticker-widget"><tbody>';
		foreach ( array( __( 'Version', 'score-ticker' ) => $widget['version'], __( 'Script', 'score-ticker' ) => $widget['src'], __( 'Integrity', 'score-ticker' ) => $widget['integrity'] ) as $label => $value ) {
			echo '<tr><th scope="row">' . esc_html( $label ) . '</th><td><code>' . esc_html( $value ) . '</code></td></tr>';
		}
		echo '</tbody></table>';
	}
	echo '<h2>' . esc_html__( 'Use', 'score-ticker' ) . '</h2><p>' . esc_html__( 'Add the "Live scores" block, or the shortcode:', 'score-ticker' ) .
		' <code>[score_ticker topics="league:nba" mode="strip"]</code></p></div>';
}
