<?php
/**
 * The scoreticker server this site shows scores from: its address (the plugin's one setting) and
 * the widget it serves. `GET /api/v1/widget` names the widget's content-addressed URL and its
 * `integrity` (web/README.md, "Pinning a version"); the answer is kept in a transient, so a page
 * view asks the server nothing.
 *
 * @package ScoreTicker
 */

defined( 'ABSPATH' ) || exit;

/** The option holding the server's address. */
const SCORE_TICKER_OPTION = 'score_ticker_server';
/**
 * How long a good answer from /api/v1/widget is kept. The URL it names is served for as long as
 * the server runs that widget version: after an upgrade of the server, pages load the new one
 * within this time (or at once, when an administrator opens the settings page).
 */
const SCORE_TICKER_WIDGET_TTL = 10 * MINUTE_IN_SECONDS;
/** How long to wait before asking again when the server did not answer. */
const SCORE_TICKER_RETRY_TTL = MINUTE_IN_SECONDS;

/** The server's address, `https://scores.example.com` (no trailing slash), or '' when not set. */
function score_ticker_server() {
	return untrailingslashit( (string) get_option( SCORE_TICKER_OPTION, '' ) );
}

/** The widget's WebSocket URL on the server: `wss://scores.example.com/ws`. */
function score_ticker_socket_url( $server ) {
	return preg_replace( '#^http#i', 'ws', $server ) . '/ws';
}

/** The transient that caches /api/v1/widget for one server address. */
function score_ticker_widget_key( $server ) {
	return 'score_ticker_widget_' . md5( $server );
}

/**
 * What the server says about its widget: array( 'src' => absolute URL, 'integrity' => 'sha384-…',
 * 'version' => … ), from the transient, else from the server. A WP_Error when it cannot be had.
 */
function score_ticker_widget( $server = null ) {
	$server = null === $server ? score_ticker_server() : $server;
	if ( '' === $server ) {
		return new WP_Error( 'score_ticker_no_server', __( 'No scoreticker server is set (Settings → Score Ticker).', 'score-ticker' ) );
	}
	$cached = get_transient( score_ticker_widget_key( $server ) );
	if ( is_array( $cached ) ) {
		return isset( $cached['error'] ) ? new WP_Error( 'score_ticker_unreachable', $cached['error'] ) : $cached;
	}
	$widget = score_ticker_fetch_widget( $server );
	if ( is_wp_error( $widget ) ) {
		set_transient( score_ticker_widget_key( $server ), array( 'error' => $widget->get_error_message() ), SCORE_TICKER_RETRY_TTL );
	} else {
		set_transient( score_ticker_widget_key( $server ), $widget, SCORE_TICKER_WIDGET_TTL );
	}
	return $widget;
}

/** Asks the server: `GET <server>/api/v1/widget`, checking every field it uses. */
function score_ticker_fetch_widget( $server ) {
	$response = wp_remote_get( $server . '/api/v1/widget', array( 'timeout' => 5 ) );
	if ( is_wp_error( $response ) ) {
		return $response;
	}
	$status = wp_remote_retrieve_response_code( $response );
	$info   = json_decode( wp_remote_retrieve_body( $response ), true );
	if ( 200 !== $status || ! is_array( $info ) ) {
		/* translators: 1: the server's address, 2: an HTTP status code */
		return new WP_Error( 'score_ticker_bad_answer', sprintf( __( '%1$s/api/v1/widget answered %2$d, not the widget\'s description.', 'score-ticker' ), $server, $status ) );
	}
	$url       = isset( $info['url'] ) ? (string) $info['url'] : '';
	$integrity = isset( $info['integrity'] ) ? (string) $info['integrity'] : '';
	if ( ! preg_match( '#^/ticker\.[0-9a-f]{16}\.js$#', $url ) || ! preg_match( '#^sha384-[A-Za-z0-9+/]{64}$#', $integrity ) ) {
		return new WP_Error( 'score_ticker_bad_answer', __( 'The server\'s /api/v1/widget has no content-addressed URL and integrity.', 'score-ticker' ) );
	}
	return array(
		'src'       => $server . $url,
		'integrity' => $integrity,
		'version'   => isset( $info['version'] ) ? sanitize_text_field( (string) $info['version'] ) : '',
	);
}

/** Forgets the cached answer, so that the next look asks the server (the settings page does, on every view). */
function score_ticker_forget_widget() {
	delete_transient( score_ticker_widget_key( score_ticker_server() ) );
}
