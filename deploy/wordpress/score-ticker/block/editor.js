/**
 * The "Live scores" block in the editor, without a build step (plain functions, no JSX). The block
 * is dynamic: the editor shows a placeholder and the settings in the sidebar, and the page gets
 * its <score-ticker> from the server (score_ticker_render_block), so save() stores no markup.
 */
( function ( blocks, element, blockEditor, components, i18n ) {
	const el = element.createElement;
	const __ = i18n.__;
	const options = ( values ) => values.map( ( value ) => ( { label: value, value } ) );

	blocks.registerBlockType( 'scoreticker/score-ticker', {
		edit( { attributes, setAttributes } ) {
			const set = ( name ) => ( value ) => setAttributes( { [ name ]: value } );
			const settings = el(
				components.PanelBody,
				{ title: __( 'Scores', 'score-ticker' ) },
				el( components.TextControl, {
					label: __( 'Topics', 'score-ticker' ),
					help: __( 'Comma-separated: all, league:nba, team:nba:BOS, feed:…, game:…', 'score-ticker' ),
					value: attributes.topics,
					onChange: set( 'topics' ),
				} ),
				el( components.SelectControl, { label: __( 'Mode', 'score-ticker' ), value: attributes.mode, options: options( [ 'scroll', 'strip', 'list' ] ), onChange: set( 'mode' ) } ),
				el( components.SelectControl, { label: __( 'Theme', 'score-ticker' ), value: attributes.theme, options: options( [ 'light', 'dark', 'auto' ] ), onChange: set( 'theme' ) } ),
				el( components.TextControl, { label: __( 'Language (BCP 47, e.g. es-MX)', 'score-ticker' ), value: attributes.lang, onChange: set( 'lang' ) } ),
				el( components.TextControl, {
					label: __( 'Link for each game', 'score-ticker' ),
					help: __( 'e.g. https://news.example/scores/{league}/{id}', 'score-ticker' ),
					value: attributes.href,
					onChange: set( 'href' ),
				} ),
				el( components.ToggleControl, { label: __( 'Announce goals and finals', 'score-ticker' ), checked: attributes.announce, onChange: set( 'announce' ) } ),
				el( components.ToggleControl, { label: __( 'Team logos', 'score-ticker' ), checked: attributes.logos, onChange: set( 'logos' ) } )
			);
			return el(
				element.Fragment,
				null,
				el( blockEditor.InspectorControls, null, settings ),
				el(
					'div',
					blockEditor.useBlockProps(),
					el( components.Placeholder, {
						icon: 'awards',
						label: __( 'Live scores', 'score-ticker' ),
						instructions: attributes.topics + ' · ' + attributes.mode + ' · ' + attributes.theme,
					} )
				)
			);
		},
		save() {
			return null;
		},
	} );
} )( window.wp.blocks, window.wp.element, window.wp.blockEditor, window.wp.components, window.wp.i18n );
