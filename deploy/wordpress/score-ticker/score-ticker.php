<?php
/**
 * Plugin Name:       Score Ticker
 * Description:       Live sports scores from a scoreticker server: the [score_ticker] shortcode and a "Live scores" block, loading the widget pinned with Subresource Integrity.
 * Version:           0.1.0
 * Requires at least: 6.1
 * Requires PHP:      7.4
 * License:           MIT
 * License URI:       https://opensource.org/licenses/MIT
 * Text Domain:       score-ticker
 *
 * The map: includes/server.php knows the scoreticker server (its address, from the settings, and
 * the widget it serves, from /api/v1/widget, cached); includes/render.php turns shortcode and block
 * attributes into a <score-ticker> element and enqueues the widget once per page;
 * includes/settings-page.php is the Settings → Score Ticker page; block/ holds the block's
 * block.json and its editor script.
 *
 * @package ScoreTicker
 */

defined( 'ABSPATH' ) || exit;

define( 'SCORE_TICKER_VERSION', '0.1.0' );

require_once __DIR__ . '/includes/server.php';
require_once __DIR__ . '/includes/render.php';
require_once __DIR__ . '/includes/settings-page.php';

add_action( 'init', 'score_ticker_register' );
add_action( 'admin_init', 'score_ticker_register_settings' );
add_action( 'admin_menu', 'score_ticker_add_settings_page' );
add_action( 'wp_enqueue_scripts', 'score_ticker_enqueue_for_post' );
add_filter( 'script_loader_tag', 'score_ticker_script_tag', 10, 2 );

/** The shortcode and the block (block/block.json), both rendered on the server by includes/render.php. */
function score_ticker_register() {
	add_shortcode( 'score_ticker', 'score_ticker_shortcode' );
	register_block_type( __DIR__ . '/block', array( 'render_callback' => 'score_ticker_render_block' ) );
}
