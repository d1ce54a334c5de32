<?php
/**
 * From the shortcode's or the block's attributes to a <score-ticker> element: every value checked
 * against what the widget accepts (web/README.md, "Attributes"), escaped by WordPress's own
 * functions, and the widget enqueued once per page with its integrity.
 *
 * @package ScoreTicker
 */

defined( 'ABSPATH' ) || exit;

/** The script handle: WordPress prints a handle once, however many tickers a page has. */
const SCORE_TICKER_HANDLE = 'score-ticker';

/** The attributes the shortcode and the block take, with their defaults (block/block.json has the same). */
const SCORE_TICKER_DEFAULTS = array(
	'topics'   => 'all',
	'mode'     => 'scroll',
	'theme'    => 'light',
	'lang'     => '',
	'href'     => '',
	'announce' => false,
	'logos'    => false,
);

/**
 * The space a ticker takes before the widget's script has run, so the page does not shift when it
 * does: web/README.md's reservation, as written there (tests/wordpress checks they agree).
 */
const SCORE_TICKER_RESERVATION_CSS = 'score-ticker:not(:defined) { display: block; height: 3em; }
score-ticker[mode="list"]:not(:defined) { display: block; height: 20em; }';

/** `[score_ticker topics="league:nba" mode="strip"]`; the flags also bare: `[score_ticker announce]`. */
function score_ticker_shortcode( $atts ) {
	$atts = (array) $atts;
	foreach ( $atts as $key => $value ) {
		if ( is_int( $key ) && in_array( $value, array( 'announce', 'logos' ), true ) ) {
			$atts[ $value ] = true;
		}
	}
	return score_ticker_markup( shortcode_atts( SCORE_TICKER_DEFAULTS, $atts, 'score_ticker' ) );
}

/** The block's server-side render (block/block.json). */
function score_ticker_render_block( $attributes ) {
	return score_ticker_markup( (array) $attributes );
}

/** The element for `$atts`, its fallback link inside, and the widget enqueued. */
function score_ticker_markup( $atts ) {
	$server = score_ticker_server();
	if ( '' === $server ) {
		return current_user_can( 'manage_options' ) ? '<p>' . esc_html__( 'Live scores: set the scoreticker server\'s address in Settings → Score Ticker.', 'score-ticker' ) . '</p>' : '';
	}
	score_ticker_enqueue();
	$attributes = array( 'src' => score_ticker_socket_url( $server ) ) + score_ticker_clean_attributes( $atts );
	$html       = '<score-ticker';
	foreach ( $attributes as $name => $value ) {
		$html .= true === $value ? ' ' . $name : sprintf( ' %s="%s"', $name, esc_attr( $value ) );
	}
	// Before the widget runs (or if it never does), readers and search engines see a link to the scores.
	$html .= sprintf( '><a href="%s">%s</a></score-ticker>', esc_url( $server . '/' ), esc_html__( 'Live scores', 'score-ticker' ) );
	$allowed = array(
		'score-ticker' => array_fill_keys( array_merge( array( 'src' ), array_keys( SCORE_TICKER_DEFAULTS ) ), true ),
		'a'            => array( 'href' => true ),
	);
	return wp_kses( $html, $allowed, array( 'http', 'https', 'ws', 'wss' ) );
}

/** What the widget accepts of `$atts`: unknown values fall back to the defaults, empty ones are left out, flags are `true`. */
function score_ticker_clean_attributes( $atts ) {
	$atts  = wp_parse_args( $atts, SCORE_TICKER_DEFAULTS );
	$clean = array(
		'topics' => score_ticker_clean_topics( (string) $atts['topics'] ),
		'mode'   => score_ticker_one_of( $atts['mode'], array( 'scroll', 'strip', 'list' ) ),
		'theme'  => score_ticker_one_of( $atts['theme'], array( 'light', 'dark', 'auto' ) ),
	);
	if ( preg_match( '/^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/', (string) $atts['lang'] ) ) {
		$clean['lang'] = $atts['lang'];
	}
	$href = score_ticker_clean_link_template( (string) $atts['href'] );
	if ( '' !== $href ) {
		$clean['href'] = $href;
	}
	foreach ( array( 'announce', 'logos' ) as $flag ) {
		if ( filter_var( $atts[ $flag ], FILTER_VALIDATE_BOOLEAN ) ) {
			$clean[ $flag ] = true;
		}
	}
	return $clean;
}

/** `$value` if it is one of `$allowed`, else the first of them (the default). */
function score_ticker_one_of( $value, $allowed ) {
	return in_array( $value, $allowed, true ) ? $value : $allowed[0];
}

/** The topics (`league:nba, team:nba:BOS`) that are made only of what topics are made of; `all` when none is. */
function score_ticker_clean_topics( $topics ) {
	$kept = array_filter(
		preg_split( '/[\s,]+/', $topics ),
		function ( $topic ) {
			return (bool) preg_match( '/^[A-Za-z0-9_.:-]+$/', $topic );
		}
	);
	return $kept ? implode( ',', $kept ) : 'all';
}

/**
 * A link template (`https://news.example/scores/{league}/{id}`) as an http(s) URL, its
 * placeholders kept (esc_url_raw would drop the braces); '' when it is not one.
 */
function score_ticker_clean_link_template( $template ) {
	if ( '' === $template ) {
		return '';
	}
	$marked = preg_replace( '/\{(id|feed|league|sport|home|away)\}/', 'SCORETICKER-$1-SCORETICKER', $template );
	$url    = esc_url_raw( $marked, array( 'http', 'https' ) );
	return '' === $url ? '' : preg_replace( '/SCORETICKER-(id|feed|league|sport|home|away)-SCORETICKER/', '{$1}', $url );
}

/**
 * Enqueues the reservation style and, when the server has told what its widget is, the widget's
 * content-addressed script. Early (wp_enqueue_scripts, for a post that has a ticker) it goes in
 * the head; from a late render (a ticker in a sidebar), in the footer. Once either way.
 */
function score_ticker_enqueue() {
	if ( ! wp_style_is( SCORE_TICKER_HANDLE, 'registered' ) ) {
		wp_register_style( SCORE_TICKER_HANDLE, false, array(), SCORE_TICKER_VERSION );
		wp_add_inline_style( SCORE_TICKER_HANDLE, SCORE_TICKER_RESERVATION_CSS );
	}
	wp_enqueue_style( SCORE_TICKER_HANDLE );
	if ( wp_script_is( SCORE_TICKER_HANDLE, 'registered' ) ) {
		wp_enqueue_script( SCORE_TICKER_HANDLE );
		return;
	}
	$widget = score_ticker_widget();
	if ( is_wp_error( $widget ) ) {
		return; // The fallback link stays: readers can still follow it to the scores.
	}
	// No version: the URL is content-addressed already, and a query would only split caches.
	wp_register_script( SCORE_TICKER_HANDLE, $widget['src'], array(), null, did_action( 'wp_head' ) > 0 ); // phpcs:ignore WordPress.WP.EnqueuedResourceParameters.MissingVersion
	wp_script_add_data( SCORE_TICKER_HANDLE, 'integrity', $widget['integrity'] );
	wp_enqueue_script( SCORE_TICKER_HANDLE );
}

/** In the head already when the post being shown has a ticker. */
function score_ticker_enqueue_for_post() {
	$post = get_post();
	if ( is_singular() && $post && ( has_shortcode( $post->post_content, 'score_ticker' ) || has_block( 'scoreticker/score-ticker', $post ) ) && '' !== score_ticker_server() ) {
		score_ticker_enqueue();
	}
}

/** The widget's <script>: `async`, with its `integrity` and the CORS mode that SRI needs. */
function score_ticker_script_tag( $tag, $handle ) {
	if ( SCORE_TICKER_HANDLE !== $handle ) {
		return $tag;
	}
	$integrity = wp_scripts()->get_data( $handle, 'integrity' );
	return preg_replace( '/<script /', sprintf( '<script async integrity="%s" crossorigin="anonymous" ', esc_attr( $integrity ) ), $tag, 1 );
}
