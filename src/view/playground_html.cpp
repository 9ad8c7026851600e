#include "view/playground_html.h"

#include "view/embedded_assets.h"  // generated from assets/ at build time

namespace dlm {

std::string playground_html() {
    std::string page = R"(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>dlm playground</title>
<style>
)";
    page += assets::canvas_css;
    page += assets::playground_css;
    page += R"(</style>
</head>
<body>
<header>
<h1>dlm playground</h1>
<p class="sub">Text diffusion, live: the canvas starts masked and fills in step by step; with an autoregressive
model loaded it races alongside. <code>&lt;mask:N&gt;</code> in the prompt infills N tokens.</p>
</header>
<form id="form" class="controls">
<textarea id="prompt" aria-label="Prompt">The history of the city</textarea>
<label>Tokens <input id="max_tokens" type="number" value="64" min="1" max="1024"></label>
<label>Sampler <select id="sampler"><option value="">model's default</option><option>confidence</option>
<option>remask</option><option>lowconf</option></select></label>
<label>Steps <input id="steps" type="number" min="1" placeholder="default"></label>
<label>Threshold <input id="threshold" type="number" min="0.05" max="1" step="0.05" placeholder="default"></label>
<label>Block <input id="block" type="number" min="1" placeholder="default"></label>
<label>Cache <select id="cache"><option value="">default</option><option>none</option><option>prefix</option>
<option>dual</option></select></label>
<label>Temperature <input id="temperature" type="number" min="0" max="2" step="0.1" placeholder="default"></label>
<label>Seed <input id="seed" type="number" value="1"></label>
<label id="key-label" hidden>API key <input id="key" type="password" autocomplete="off"></label>
<button id="run" type="submit">Run</button>
</form>
<main id="main" class="columns" data-done="0"></main>
<p class="legend"><b>bold</b>: the prompt · <span class="m">&#9617;</span>: still masked ·
<span class="c">highlighted</span>: committed in the last step</p>
<script>
)";
    page += assets::playground_js;
    page += "</script>\n</body>\n</html>\n";
    return page;
}

}  // namespace dlm
