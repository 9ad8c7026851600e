// The page `dlm serve` shows at / : a prompt, the sampler's settings, and the canvas
// of every served model drawn live from /v1/denoise (assets/canvas.css, the look it
// shares with the compare page, and assets/playground.{css,js}, embedded at build
// time: the page needs nothing but the server).
#pragma once

#include <string>

namespace dlm {

std::string playground_html();

}  // namespace dlm
