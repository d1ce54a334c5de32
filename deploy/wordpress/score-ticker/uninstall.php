<?php
/**
 * Deleting the plugin deletes its setting and the cached answer of the server.
 *
 * @package ScoreTicker
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

require_once __DIR__ . '/includes/server.php';

score_ticker_forget_widget();
delete_option( SCORE_TICKER_OPTION );
