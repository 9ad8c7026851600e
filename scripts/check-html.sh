#!/usr/bin/env bash
# Replays a `dlm compare` page (src/view/compare_html.h) in headless Chromium and checks
# the DOM once the replay is over: both sides done with no mask left, both texts
# shown, the summary table visible. Virtual time runs the replay without waiting for it.
#
# Usage: scripts/check-html.sh PAGE.html [options]
#   --expect TEXT      a finished text one of the sides must show (repeatable)
#   --speed X          replay speed (default 4)
#   --budget MS        virtual time given to the page (default 20000)
#   --screenshot FILE  also save a 1280x800 PNG of the final page (for humans)
# Needs Chromium (Debian: sudo apt-get install chromium); CHROMIUM=/path overrides.
set -euo pipefail

die() { echo "check-html: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

page="" speed=4 budget=20000 screenshot=""
expects=()
while (($#)); do
  case "$1" in
    --expect) (($# >= 2)) || die "--expect needs a TEXT"; expects+=("$2"); shift 2 ;;
    --expect=*) expects+=("${1#*=}"); shift ;;
    --speed) (($# >= 2)) || die "--speed needs a value"; speed=$2; shift 2 ;;
    --speed=*) speed=${1#*=}; shift ;;
    --budget) (($# >= 2)) || die "--budget needs a value"; budget=$2; shift 2 ;;
    --budget=*) budget=${1#*=}; shift ;;
    --screenshot) (($# >= 2)) || die "--screenshot needs a FILE"; screenshot=$2; shift 2 ;;
    --screenshot=*) screenshot=${1#*=}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) die "unknown option '$1' (see --help)" ;;
    *) [[ -z $page ]] || die "one page at a time ('$page' and '$1')"; page=$1; shift ;;
  esac
done
[[ -n $page ]] || { usage >&2; exit 2; }
[[ -f $page ]] || die "no such file: $page"
[[ $budget =~ ^[0-9]+$ ]] || die "--budget must be milliseconds, not '$budget'"

browser=${CHROMIUM:-}
if [[ -z $browser ]]; then
  for c in chromium chromium-browser; do
    if command -v "$c" >/dev/null; then browser=$(command -v "$c"); break; fi
  done
fi
[[ -n $browser && -x $browser ]] ||
  die "Chromium not found: install it with 'sudo apt-get install chromium' (or set CHROMIUM=/path/to/chromium)"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/profile"

# A file URL: percent-encode what would end or confuse the path.
abs=$(realpath "$page")
abs=${abs//%/%25}; abs=${abs// /%20}; abs=${abs//#/%23}; abs=${abs//\?/%3F}
url="file://$abs#speed=$speed"

# Root needs --no-sandbox; the rest keeps Chromium off the network and quiet.
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking
  --disable-component-update --disable-sync --user-data-dir="$tmp/profile" --virtual-time-budget="$budget")

start=$SECONDS
if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" >"$tmp/dom.html" 2>"$tmp/stderr"; then
  tail -n 20 "$tmp/stderr" >&2
  die "Chromium failed on $page (see its messages above)"
fi
[[ -s $tmp/dom.html ]] || { tail -n 20 "$tmp/stderr" >&2; die "Chromium returned no DOM for $page"; }

if [[ -n $screenshot ]]; then
  shot=$(realpath -m "$screenshot")
  timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1280,800 --screenshot="$shot" "$url" \
    >/dev/null 2>"$tmp/stderr" || { tail -n 20 "$tmp/stderr" >&2; die "Chromium could not take the screenshot"; }
  [[ -s $shot ]] || die "no screenshot written to $screenshot"
fi

# The text each side shows: the contents of its <div class="text"> (spans only), as text.
perl -0777 -ne '
  my $i = 0;
  while (/<div class="text"[^>]*>(.*?)<\/div>/sg) {
    my $t = $1;
    $t =~ s/<[^>]*>//g;
    $t =~ s/&lt;/</g; $t =~ s/&gt;/>/g; $t =~ s/&quot;/"/g; $t =~ s/&#39;/\x27/g; $t =~ s/&nbsp;/\xc2\xa0/g;
    $t =~ s/&amp;/&/g;
    open(my $f, ">", "'"$tmp"'/text$i") or die; print $f $t; close $f; $i++;
  }' "$tmp/dom.html"

failures=()
dom=$(<"$tmp/dom.html")
[[ $dom == *'id="replay"'* ]] || die "$page is not a dlm compare page (no id=\"replay\")"
grep -Eq '<main[^>]*data-done="2"' "$tmp/dom.html" ||
  failures+=("the replay did not finish: $(grep -Eo '<main[^>]*>' "$tmp/dom.html" | head -n 1)")
n_done=$( (grep -Eo 'class="side"[^>]*data-state="done"' "$tmp/dom.html" || true) | wc -l)
((n_done == 2)) || failures+=("$n_done of 2 sides done")
summary_tag=$(grep -Eo '<table id="summary"[^>]*>' "$tmp/dom.html" | head -n 1 || true)
[[ -n $summary_tag ]] || failures+=("no summary table")
[[ $summary_tag != *hidden* ]] || failures+=("the summary table is still hidden")
for i in 0 1; do
  if [[ ! -f $tmp/text$i ]]; then
    failures+=("side $i shows no text element")
    continue
  fi
  text=$(<"$tmp/text$i")
  [[ -n ${text//[[:space:]]/} ]] || failures+=("side $i shows an empty text")
  [[ $text != *░* ]] || failures+=("side $i still shows masked positions")
done
for e in "${expects[@]}"; do
  found=0
  for i in 0 1; do
    [[ -f $tmp/text$i && $(<"$tmp/text$i") == *"$e"* ]] && found=1
  done
  ((found)) || failures+=("no side shows the text: $e")
done

if ((${#failures[@]})); then
  for i in 0 1; do [[ -f $tmp/text$i ]] && echo "check-html: side $i shows: $(<"$tmp/text$i")" >&2; done
  for f in "${failures[@]}"; do echo "check-html: FAIL: $f" >&2; done
  exit 1
fi
echo "check-html: $page ok: both sides done, summary shown ($((SECONDS - start)) s)"
