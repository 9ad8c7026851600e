#!/usr/bin/env bash
# Lists the functions longer than a limit (80 lines by default) in C++ files: one line
# "file:line name length" each, longest first; exits 1 when there is any.
#
# Usage: scripts/check-function-length.sh [--max N] [PATH ...]
#   PATH  files or folders (default: src tools bench tests); folders are searched for
#         *.cpp and *.h
#
# A function is what this code base writes at namespace level or inside a class body:
# a signature starting at column 0, or at column 4 for a member function (over one or
# more lines), its body closed by a '}' at the same column. Its length counts the lines
# from the signature to that brace.
set -euo pipefail
cd "$(dirname "$0")/.."

max=80
paths=()
while (($#)); do
  case "$1" in
    --max) max="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) paths+=("$1"); shift ;;
  esac
done
((${#paths[@]})) || paths=(src tools bench tests)

found=$(find "${paths[@]}" -type f \( -name '*.cpp' -o -name '*.h' \) | sort | while read -r f; do
  awk -v max="$max" -v file="$f" '
    # A signature starts at column 0 with a "(" and is none of the other column-0 lines.
    function signature_start(line,   body) {
      if (line !~ /^(    )?[A-Za-z_~]/) return 0
      body = line
      sub(/^ +/, "", body)
      if (body ~ /^(namespace|struct|class|enum|union|using|typedef|template|extern|static_assert|public|private|protected|return|if|for|while|switch|else|do|case|default|throw|delete|goto)([^A-Za-z0-9_]|$)/) return 0
      if (line ~ /^    / && body !~ /\)[^;]*\{[ \t]*(\/\/.*)?$/ && body !~ /,[ \t]*$/ && body !~ /\($/) return 0
      return index(body, "(") > 0 && body !~ /=[^=]*\(/
    }
    function name_of(line,   s, args) {
      s = line
      sub(/\(.*/, "", s)           # up to the parameter list
      sub(/.*[ *&]/, "", s)        # the last word: the name
      if (s ~ /^TEST(_F|_P)?$/) {  # a GoogleTest case: its suite and name
        args = line
        sub(/^[^(]*\(/, "", args)
        sub(/\).*/, "", args)
        gsub(/ /, "", args)
        s = s "(" args ")"
      }
      return s
    }
    {
      if (state == "body") {
        if (substr($0, 1, indent + 1) == pad "}") {
          n = NR - start + 1
          if (n > max) printf "%d %s:%d %s %d\n", n, file, start, name, n
          state = ""
        }
        next
      }
      if (state == "signature") {
        if ($0 ~ /;[ \t]*(\/\/.*)?$/ && $0 !~ /\{/) { state = ""; next }
        if ($0 ~ /\{[ \t]*(\/\/.*)?$/) state = "body"
        next
      }
      if (signature_start($0)) {
        start = NR
        indent = match($0, /[^ ]/) - 1
        pad = substr("    ", 1, indent)
        name = name_of($0)
        if ($0 ~ /\{[ \t]*(\/\/.*)?$/) state = "body"
        else if ($0 ~ /;[ \t]*(\/\/.*)?$/ || $0 ~ /}[ \t;]*$/) state = ""
        else state = "signature"
      }
    }
  ' "$f"
done | sort -k1,1nr | cut -d' ' -f2-)

if [[ -n "$found" ]]; then
  echo "$found"
  echo "check-function-length: $(wc -l <<<"$found") function(s) over $max lines" >&2
  exit 1
fi
