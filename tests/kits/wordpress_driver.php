<?php
/*
 * Runs WordPress's own PHP against a test database: realwpkit.py writes a JSON job to stdin,
 * [[function, [args...]], ...], and reads one JSON line back: each call's result, the HTTP
 * requests WordPress tried (all refused) and the mails it tried to send (none sent).
 *
 * This file is the site's wp-config.php: it defines the DB_* constants, ABSPATH and
 * $table_prefix itself and requires wp-settings.php directly, so neither wp-load.php nor
 * Debian's /usr/share/wordpress/wp-config.php runs, and /etc/wordpress/config-<host>.php is
 * never looked up. The job's settings come from the PRESSROOM_WP environment variable (JSON).
 */

$pressroom = json_decode( getenv( 'PRESSROOM_WP' ), true );
$pressroom_http = array();
$pressroom_mails = array();

define( 'DB_NAME', $pressroom['db_name'] );
define( 'DB_USER', $pressroom['db_user'] );
define( 'DB_PASSWORD', $pressroom['db_password'] );
define( 'DB_HOST', $pressroom['db_host'] );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
define( 'ABSPATH', rtrim( $pressroom['abspath'], '/' ) . '/' );
define( 'WP_CONTENT_DIR', $pressroom['content_dir'] );
define( 'WP_CONTENT_URL', $pressroom['home'] . '/wp-content' );
// Nothing leaves the machine: no HTTP (also refused below, even to the site's own host),
// no cron spawned, no updates, no mail (wp_mail is replaced below).
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_AUTO_UPDATE_CORE', false );
define( 'WP_DEBUG', true );
define( 'WP_DEBUG_DISPLAY', false );
define( 'WP_DEBUG_LOG', $pressroom['content_dir'] . '/debug.log' );
define( 'AUTH_KEY', 'pressroom-test' );
define( 'SECURE_AUTH_KEY', 'pressroom-test' );
define( 'LOGGED_IN_KEY', 'pressroom-test' );
define( 'NONCE_KEY', 'pressroom-test' );
define( 'AUTH_SALT', 'pressroom-test' );
define( 'SECURE_AUTH_SALT', 'pressroom-test' );
define( 'LOGGED_IN_SALT', 'pressroom-test' );
define( 'NONCE_SALT', 'pressroom-test' );
if ( $pressroom['installing'] ) {
	define( 'WP_INSTALLING', true );
	define( 'WP_SITEURL', $pressroom['home'] ); // what wp_install() stores as siteurl and home
}
$table_prefix = $pressroom['table_prefix'];

$host = parse_url( $pressroom['home'], PHP_URL_HOST );
$_SERVER['HTTP_HOST']       = $host;
$_SERVER['SERVER_NAME']     = $host;
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
$_SERVER['REQUEST_METHOD']  = 'GET';

function pressroom_refuse_http( $response, $args, $url ) {
	$GLOBALS['pressroom_http'][] = $url;
	return new WP_Error( 'pressroom_offline', 'HTTP is off in this test' );
}

function wp_mail( $to, $subject, $message, $headers = '', $attachments = array() ) {
	$GLOBALS['pressroom_mails'][] = array( 'to' => $to, 'subject' => $subject );
	return true;
}

// Filters in place before WordPress loads (wp-includes/plugin.php reads $wp_filter as it is).
$wp_filter = array(
	'pre_http_request'     => array( 10 => array( array( 'function' => 'pressroom_refuse_http', 'accepted_args' => 3 ) ) ),
	'block_local_requests' => array( 10 => array( array( 'function' => '__return_true', 'accepted_args' => 1 ) ) ),
);

require_once ABSPATH . 'wp-settings.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
require_once ABSPATH . 'wp-admin/includes/file.php';
require_once ABSPATH . 'wp-admin/includes/media.php';
require_once ABSPATH . 'wp-admin/includes/image.php';
require_once ABSPATH . 'wp-admin/includes/post.php';

/** A featured image uploaded as the media library does it: a real JPEG, sideloaded. */
function pressroom_sideload_image( $post_id, $name ) {
	$image = imagecreatetruecolor( 64, 48 );
	imagefill( $image, 0, 0, imagecolorallocate( $image, 200, 30, 30 ) );
	$tmp = wp_tempnam( $name );
	imagejpeg( $image, $tmp );
	$id = media_handle_sideload( array( 'name' => $name, 'tmp_name' => $tmp ), $post_id );
	if ( is_wp_error( $id ) ) {
		return $id;
	}
	set_post_thumbnail( $post_id, $id );
	return $id;
}

/** An auto-draft, as the editor's "Add New" screen makes one. */
function pressroom_auto_draft() {
	return get_default_post_to_edit( 'post', true )->ID;
}

/** A row of a table, as WordPress left it (what pressroom will read). */
function pressroom_row( $table, $id ) {
	global $wpdb;
	return $wpdb->get_row( $wpdb->prepare( "SELECT * FROM {$wpdb->$table} WHERE ID = %d", $id ), ARRAY_A );
}

/** A post's times as WordPress shows them: in the site's zone and in UTC, ISO 8601. */
function pressroom_times( $id ) {
	return array(
		'local' => get_post_time( 'c', false, $id ),
		'gmt'   => get_post_time( 'c', true, $id ),
	);
}

$results = array();
foreach ( json_decode( stream_get_contents( STDIN ), true ) as $call ) {
	list( $function, $args ) = $call;
	$result = call_user_func_array( $function, $args );
	if ( is_wp_error( $result ) ) {
		fwrite( STDERR, "$function: " . $result->get_error_message() . "\n" );
		exit( 3 );
	}
	$results[] = $result;
}
echo "\nPRESSROOM-RESULT:" . json_encode(
	array( 'results' => $results, 'http' => $pressroom_http, 'mails' => $pressroom_mails ),
	JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES
) . "\n";
