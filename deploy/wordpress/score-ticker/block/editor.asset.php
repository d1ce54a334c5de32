<?php
/**
 * The editor script's dependencies (block.json's "editorScript"), written by hand: editor.js needs
 * no build step.
 *
 * @package ScoreTicker
 */

return array(
	'dependencies' => array( 'wp-blocks', 'wp-element', 'wp-block-editor', 'wp-components', 'wp-i18n' ),
	'version'      => '0.1.0',
);
