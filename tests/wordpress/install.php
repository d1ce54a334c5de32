<?php
/**
 * Installs WordPress with its own install function, as its installer page does, then publishes the
 * tests' posts as the administrator. Run with php-cli: `php install.php <site folder> <json>`, the
 * JSON being { "admin": { "user", "password" }, "posts": [ { "title", "content" } ] }. Prints
 * { "posts": [ { "title", "id", "url" } ] }.
 */

[ , $site, $json ] = $argv;
$request = json_decode( $json, true );

define( 'WP_INSTALLING', true );
// What WordPress reads from the request when it runs behind a web server.
$_SERVER['HTTP_HOST']   = '127.0.0.1';
$_SERVER['REQUEST_URI'] = '/';
require $site . '/wp-load.php';
/** The mail that tells the new administrator their password: this machine has no mail to send it with. */
function wp_new_blog_notification() {}
require_once ABSPATH . 'wp-admin/includes/upgrade.php';

$installed = wp_install( 'The Daily Score', $request['admin']['user'], 'editor@example.com', true, '', wp_slash( $request['admin']['password'] ) );
if ( is_wp_error( $installed ) || empty( $installed['user_id'] ) ) {
	fwrite( STDERR, "wp_install failed\n" );
	exit( 1 );
}
wp_set_current_user( $installed['user_id'] );

$posts = array();
foreach ( $request['posts'] as $post ) {
	$id = wp_insert_post(
		array(
			'post_title'   => $post['title'],
			'post_content' => wp_slash( $post['content'] ),
			'post_status'  => 'publish',
		),
		true
	);
	if ( is_wp_error( $id ) ) {
		fwrite( STDERR, 'wp_insert_post failed: ' . $id->get_error_message() . "\n" );
		exit( 1 );
	}
	$posts[] = array(
		'title' => $post['title'],
		'id'    => $id,
		'url'   => get_permalink( $id ),
	);
}
echo wp_json_encode( array( 'posts' => $posts ) );
