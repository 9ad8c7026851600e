#!/usr/bin/python3
"""Independent reference tokenizers for bert-base-uncased and ModernBERT-base.

`transformers` and `tokenizers` cannot be installed here, so this file re-implements,
with the standard library only (unicodedata, json), what HF computes:

  * bert-base-uncased: BertNormalizer + BertPreTokenizer + WordPiece + the WordPiece
    decoder, as HF `tokenizers` (BertTokenizerFast, what AutoTokenizer loads) does.
    Where python's slow BertTokenizer differs from the fast one, we follow the fast
    one and say so in a comment (marked "slow:").
  * ModernBERT-base: NFC normalizer + byte-level BPE with the GPT-2 pre-tokenizer
    regex (hand-written below: the `regex` module is not installed) + the
    [CLS] $A [SEP] template, with HF AddedVocabulary's two-pass added-token split.

It writes tests/data/tokenizers/test-vectors/{bert-base-uncased,modernbert-base}.json:
for each input text, the ids without and with special tokens, and the decoded text
(with and without skip_special_tokens) of the ids with special tokens.

Run:  /usr/bin/python3 tests/ref/tokenizer_reference.py      (deterministic output)
"""

import json
import os
import random
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.normpath(os.path.join(HERE, "..", "data"))
TOKENIZERS = os.path.join(DATA, "tokenizers")

# --------------------------------------------------------------------------------------
# Unicode classes shared by both tokenizers.

# Rust char::is_whitespace (Unicode White_Space); also Oniguruma's Unicode \s.
WHITE_SPACE = set(range(0x09, 0x0E)) | {0x20, 0x85, 0xA0, 0x1680, 0x2028, 0x2029, 0x202F,
                                         0x205F, 0x3000} | set(range(0x2000, 0x200B))


def is_white_space(ch):
    return ord(ch) in WHITE_SPACE


# --------------------------------------------------------------------------------------
# HF AddedVocabulary: leftmost-longest matching with lstrip / rstrip / single_word.

def added_split(text, tokens):
    """Splits `text` at the added tokens; tokens: list of (pattern, id, flags dict).
    Returns [(piece, id or None)] covering the text."""
    if not tokens:
        return [(text, None)] if text else []
    out = []
    last = 0  # end of the last emitted piece
    i = 0
    while i < len(text):
        best = None
        for pattern, tid, flags in tokens:
            if text.startswith(pattern, i) and (best is None or len(pattern) > len(best[0])):
                best = (pattern, tid, flags)
        if best is None:
            i += 1
            continue
        pattern, tid, flags = best
        start, stop = i, i + len(pattern)
        i = stop  # the scan resumes after the match, kept or not
        if flags.get("single_word"):
            left_ok = start == 0 or not is_word_char(text[start - 1])
            right_ok = stop == len(text) or not is_word_char(text[stop])
            if not (left_ok and right_ok):
                continue
        if flags.get("lstrip"):
            while start > 0 and is_white_space(text[start - 1]):
                start -= 1
            start = max(start, last)
        if flags.get("rstrip"):
            while stop < len(text) and is_white_space(text[stop]):
                stop += 1
        if last < start:
            out.append((text[last:start], None))
        out.append((text[start:stop], tid))
        last = stop
        i = max(i, stop)
    if last < len(text):
        out.append((text[last:], None))
    return out


def is_word_char(ch):  # Rust regex \w
    cat = unicodedata.category(ch)
    return cat[0] in "LMN" and cat != "No" or cat == "Pc" or ch in "\u200c\u200d"


def added_sets(added_tokens, normalize):
    """(raw set, normalized set) as HF builds its two tries: specials first, then the
    others; normalized tokens are matched by their normalized content."""
    ordered = [t for t in added_tokens if t["special"]] + \
              [t for t in added_tokens if not t["special"]]
    raw, norm = [], []
    for t in ordered:
        flags = {k: t.get(k, False) for k in ("lstrip", "rstrip", "single_word")}
        if t.get("normalized", not t["special"]):
            pattern = normalize(t["content"])
            if pattern:
                norm.append((pattern, t["id"], flags))
        else:
            raw.append((t["content"], t["id"], flags))
    return raw, norm


def encode_with_added(text, raw_set, norm_set, normalize, model_encode):
    ids = []
    for piece, tid in added_split(text, raw_set):
        if tid is not None:
            ids.append(tid)
            continue
        for sub, sid in added_split(normalize(piece), norm_set):
            if sid is not None:
                ids.append(sid)
            else:
                ids.extend(model_encode(sub))
    return ids


# --------------------------------------------------------------------------------------
# BERT: BertNormalizer, BertPreTokenizer, WordPiece, WordPiece decoder.

def bert_is_control(ch):
    # tokenizers: unicode_categories' is_other = Cc | Cf | Co (no Cn, no Cs).
    # slow: BasicTokenizer takes every category starting with "C" (so also drops
    # unassigned code points).
    if ch in "\t\n\r":
        return False
    return unicodedata.category(ch) in ("Cc", "Cf", "Co")


def bert_is_chinese(cp):
    # tokenizers' ranges; slow: the sixth range starts at 0x2B820, not 0x2B920.
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF
            or 0x2A700 <= cp <= 0x2B73F or 0x2B740 <= cp <= 0x2B81F
            or 0x2B920 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF
            or 0x2F800 <= cp <= 0x2FA1F)


def bert_is_punctuation(ch):
    cp = ord(ch)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(ch).startswith("P")


class BertNormalizer:
    def __init__(self, clean_text=True, chinese=True, strip_accents=None, lowercase=True):
        self.clean_text = clean_text
        self.chinese = chinese
        self.strip_accents = lowercase if strip_accents is None else strip_accents
        self.lowercase = lowercase

    def __call__(self, text):
        chars = []
        for ch in text:
            if self.clean_text:
                if ch in "\x00\ufffd" or bert_is_control(ch):
                    continue
                if is_white_space(ch):
                    ch = " "
            if self.chinese and bert_is_chinese(ord(ch)):
                chars.extend((" ", ch, " "))
            else:
                chars.append(ch)
        text = "".join(chars)
        # tokenizers strips accents, then lowercases; slow: lowercases first. Both
        # orders give the same text for every input we know of.
        if self.strip_accents:
            text = "".join(c for c in unicodedata.normalize("NFD", text)
                           if unicodedata.category(c) != "Mn")
        if self.lowercase:
            # Rust char::to_lowercase, one character at a time: python's lower() of a
            # single character is the same full mapping ('İ' -> 'i̇') and, alone, never
            # sees the final-sigma context. slow: str.lower() on the word, so a final
            # 'Σ' becomes 'ς' there.
            text = "".join(c.lower() for c in text)
        return text


def bert_words(text):
    # Split on whitespace (dropped), then every punctuation char alone.
    # slow: str.split() for the whitespace, which also splits at U+001C..U+001F.
    words, cur = [], []
    for ch in text:
        if is_white_space(ch):
            if cur:
                words.append("".join(cur))
                cur = []
        elif bert_is_punctuation(ch):
            if cur:
                words.append("".join(cur))
                cur = []
            words.append(ch)
        else:
            cur.append(ch)
    if cur:
        words.append("".join(cur))
    return words


class WordPieceModel:
    def __init__(self, vocab, unk="[UNK]", prefix="##", max_chars=100):
        self.vocab, self.unk, self.prefix, self.max_chars = vocab, unk, prefix, max_chars

    def word(self, word):
        if len(word) > self.max_chars:
            return [self.vocab[self.unk]]
        ids, start = [], 0
        while start < len(word):
            end = len(word)
            found = None
            while start < end:
                sub = word[start:end]
                if start > 0:
                    sub = self.prefix + sub
                if sub in self.vocab:
                    found = self.vocab[sub]
                    break
                end -= 1
            if found is None:
                return [self.vocab[self.unk]]
            ids.append(found)
            start = end
        return ids


CLEANUP = [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"),
           (" 'm", "'m"), (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"),
           (" 're", "'re")]


def wordpiece_decode(tokens, prefix="##", cleanup=True):
    out = []
    for i, tok in enumerate(tokens):
        if i > 0:
            tok = tok[len(prefix):] if tok.startswith(prefix) else " " + tok
        if cleanup:  # per token, as tokenizers' decoder does
            for a, b in CLEANUP:
                tok = tok.replace(a, b)
        out.append(tok)
    return "".join(out)


class Bert:
    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        if lines and lines[-1] == "":
            lines.pop()
        self.vocab = {tok: i for i, tok in enumerate(lines)}
        self.inv = {i: tok for tok, i in self.vocab.items()}
        with open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8") as f:
            config = json.load(f)
        self.normalize = BertNormalizer(lowercase=config.get("do_lower_case", True),
                                        strip_accents=config.get("strip_accents"),
                                        chinese=config.get("tokenize_chinese_chars", True))
        self.model = WordPieceModel(self.vocab)
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        self.special_ids = {self.vocab[s] for s in specials}
        added = [{"content": s, "id": self.vocab[s], "special": True, "normalized": False}
                 for s in specials]
        self.raw_set, self.norm_set = added_sets(added, self.normalize)
        self.cls, self.sep = self.vocab["[CLS]"], self.vocab["[SEP]"]
        self.check_tokenizer_json(folder)

    def check_tokenizer_json(self, folder):
        # The vectors must hold for both files: the same vocab and settings.
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
        assert j["model"]["vocab"] == self.vocab, "tokenizer.json vocab != vocab.txt"
        n = j["normalizer"]
        assert n["type"] == "BertNormalizer" and n["lowercase"] == self.normalize.lowercase
        assert j["pre_tokenizer"]["type"] == "BertPreTokenizer"
        assert j["decoder"] == {"type": "WordPiece", "prefix": "##", "cleanup": True}
        assert {t["id"] for t in j["added_tokens"]} == self.special_ids

    def encode(self, text, add_special):
        ids = encode_with_added(text, self.raw_set, self.norm_set, self.normalize,
                                lambda s: [i for w in bert_words(s) for i in self.model.word(w)])
        return [self.cls] + ids + [self.sep] if add_special else ids

    def decode(self, ids, skip_special):
        toks = [self.inv[i] for i in ids if not (skip_special and i in self.special_ids)]
        return wordpiece_decode(toks)


# --------------------------------------------------------------------------------------
# ModernBERT: NFC + byte-level BPE.

def byte_alphabet():
    """GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others are
    moved to 256 + n."""
    keep = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + \
        list(range(0xAE, 0x100))
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def is_letter(ch):
    return unicodedata.category(ch)[0] == "L"


def is_number(ch):
    return unicodedata.category(ch)[0] == "N"


def is_regex_space(ch):  # Oniguruma's Unicode \s: U+0009..U+000D, U+0085, Z*
    return ch in "\t\n\x0b\x0c\r\x85" or unicodedata.category(ch)[0] == "Z"


CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def gpt2_split(text):
    """The pieces of 's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+
    |\\s+(?!\\S)|\\s+ , tried in that order at each position as a backtracking regex
    engine does."""
    pieces, i, n = [], 0, len(text)

    def run(j, pred):
        while j < n and pred(text[j]):
            j += 1
        return j

    def other(ch):
        return not (is_regex_space(ch) or is_letter(ch) or is_number(ch))

    while i < n:
        end = None
        for c in CONTRACTIONS:
            if text.startswith(c, i):
                end = i + len(c)
                break
        if end is None:
            for pred in (is_letter, is_number, other):
                j = i + 1 if text[i] == " " and i + 1 < n and pred(text[i + 1]) else i
                if j < n and pred(text[j]):
                    end = run(j, pred)
                    break
        if end is None:  # text[i] is whitespace
            k = run(i, is_regex_space)
            # \s+(?!\S): the run, less its last char when a non-space follows
            end = k if k == n or k - i == 1 else k - 1
        pieces.append(text[i:end])
        i = end
    return pieces


class ByteBpe:
    def __init__(self, folder):
        with open(os.path.join(folder, "tokenizer.json"), encoding="utf-8") as f:
            j = json.load(f)
        model = j["model"]
        assert model["type"] == "BPE" and not model.get("ignore_merges")
        assert j["normalizer"] == {"type": "NFC"}
        assert j["pre_tokenizer"]["type"] == "ByteLevel" and j["pre_tokenizer"]["use_regex"]
        assert not j["pre_tokenizer"]["add_prefix_space"]
        self.vocab = model["vocab"]
        self.ranks = {}
        for r, m in enumerate(model["merges"]):
            pair = tuple(m.split(" ")) if isinstance(m, str) else tuple(m)
            self.ranks.setdefault(pair, r)  # HF keeps the first rank of a repeated pair
        self.alphabet = byte_alphabet()
        self.unalphabet = {c: b for b, c in self.alphabet.items()}
        self.inv = {i: t for t, i in self.vocab.items()}
        for t in j["added_tokens"]:
            self.inv[t["id"]] = t["content"]
        self.special_ids = {t["id"] for t in j["added_tokens"] if t["special"]}
        self.normalize = lambda s: unicodedata.normalize("NFC", s)
        self.raw_set, self.norm_set = added_sets(j["added_tokens"], self.normalize)
        single = j["post_processor"]["single"]
        specials = j["post_processor"]["special_tokens"]
        names = [x["SpecialToken"]["id"] for x in single if "SpecialToken" in x]
        assert [list(x)[0] for x in single] == ["SpecialToken", "Sequence", "SpecialToken"]
        self.cls, self.sep = (specials[name]["ids"][0] for name in names)
        self.cache = {}

    def bpe(self, word):
        """HF Word::merge_all: merge the lowest-ranked adjacent pair, leftmost first."""
        syms = [self.alphabet[b] for b in word.encode("utf-8")]
        while len(syms) > 1:
            best = None
            for k in range(len(syms) - 1):
                r = self.ranks.get((syms[k], syms[k + 1]))
                if r is not None and (best is None or r < best[0]):
                    best = (r, k)
            if best is None:
                break
            k = best[1]
            syms[k:k + 2] = [syms[k] + syms[k + 1]]
        return [self.vocab[s] for s in syms]

    def words(self, text):
        ids = []
        for piece in gpt2_split(text):
            if piece not in self.cache:
                self.cache[piece] = self.bpe(piece)
            ids.extend(self.cache[piece])
        return ids

    def encode(self, text, add_special):
        ids = encode_with_added(text, self.raw_set, self.norm_set, self.normalize, self.words)
        return [self.cls] + ids + [self.sep] if add_special else ids

    def decode(self, ids, skip_special):
        out = bytearray()
        for i in ids:
            if skip_special and i in self.special_ids:
                continue
            tok = self.inv[i]
            if all(c in self.unalphabet for c in tok):
                out.extend(self.unalphabet[c] for c in tok)
            else:  # an added token outside the byte alphabet: its own text
                out.extend(tok.encode("utf-8"))
        return out.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------
# Inputs.

HAND_WRITTEN = [
    "", " ", "   ", "\t", "\n", "\n\n", " \n \t ", "\r\n", "Hello world", "Hello, world!",
    "HELLO World", "hello   world", "hello\tworld\nnext line", "a\t\tb", "a" + " " * 30 + "b",
    "x" + " " * 25, "   leading and trailing   ", "café", "cafe\u0301", "naïve résumé",
    "señor niño", "Ångström", "ÅÅÅ", "Übermäßig groß", "İstanbul", "istanbul İ",
    "ΟΔΟΣ Σ", "σς", "ß ẞ", "\ufb01nance \ufb02ow", "Ⅻ ⅻ", "①②③", "x² + y³", "½ ¼",
    "\u0301", "e\u0301\u0302\u0323", "a\u0308o\u0308u\u0308", "Tiếng Việt", "Ελληνικά",
    "Привет, мир!", "ĲSSELMEER", "Dvořák Łódź", "中文字符", "我爱北京天安门。", "日本語のテキスト",
    "カタカナ ひらがな", "한국어 텍스트", "ｆｕｌｌ\u3000ｗｉｄｔｈ", "\U00020000\U0002A6DF",
    "a\U0002B820b", "a\U0002B920b", "豈 鶴", "नमस्ते दुनिया", "مرحبا بالعالم", "שָׁלוֹם",
    "สวัสดีครับ", "!!!", "...", "?!?!", "--", "—–-", "“quoted” ‘single’", "«guillemets»",
    "(a)[b]{c}<d>", "a.b,c;d:e", "$100.00", "3.14159", "1,000,000", "2024-01-01T12:00",
    "#hashtag @user", "e-mail: foo@bar.com", "http://example.com/path?x=1&y=2#frag",
    "don't", "I'm", "they're", "we've", "it's", "can't won't", "'s 't 're", "I'LL DO IT",
    "he said 'hi'", "do not", "a ' b", "😀", "👍🏽", "👨\u200d👩\u200d👧", "🥰🥰", "I ❤ NY",
    "a\x00b", "a\x07b", "a\x0bb", "a\x0cb", "a\x85b", "a\u200bb", "a\ufeffb", "a\ufffdb",
    "\u00a0nbsp\u00a0", "a\u2028b\u2029c", "a\u3000b", "a\ue000b", "a\u0378b", "a\x1fb",
    "\u202fnarrow", "a" * 100, "a" * 101, "b" * 150, "é" * 100, "é" * 101, "ab" * 60,
    "supercalifragilisticexpialidocious", "antidisestablishmentarianism",
    "pneumonoultramicroscopicsilicovolcanoconiosis", "[MASK]", "[CLS] hello [SEP]",
    "hello [MASK] world", "hello[MASK]world", "[mask]", "[MASK][MASK]", " [MASK] ",
    "hello  [MASK]", "\t[MASK]", "[UNK]", "[PAD]", "[SEP]", "[CLS]", "[unused0]",
    "[unused82] [unused83]", "<|endoftext|>", "a<|endoftext|>b", "<|padding|>",
    "|||IP_ADDRESS|||", "|||EMAIL_ADDRESS||| and |||PHONE_NUMBER|||", "<s> </s> <mask>",
    "McDonald's iPhone", "camelCaseWord snake_case_word", "12345678901234567890",
    "0.5% 100% -3", "a_b__c___d", "`code` ``x``", "***bold***", "~tilde~ ^caret^",
    "\\backslash\\", "/slash/", "|pipe|", "C++ and C#", "1st 2nd 3rd 4th", "Q&A",
    "∑∫√∞≠≤", "€£¥₹₿", "©®™", "→←↑↓", "♠♣♥♦", "\u2026 ellipsis", "   \n\n   \n",
    "line1\r\nline2\r\n", "tab\tseparated\tvalues", "mixed 中文 and English",
    "The quick brown fox jumps over the lazy dog.", "THE QUICK BROWN FOX",
    "It's 5 o'clock somewhere, isn't it?", "Hello!!! How are you???",
    "naïve café résumé fiancée", "ǅemal ǈubljana", "ΐΰ", "Ǻǻ", "K\u212a Å\u212b",
    "[MA\u200bSK]", "[MASK\u0301]", "A\u0130B", "\u1e9e\u01c5", "a  \nb", "x \n\n  y",
    "def f():\n    return 1\n", "a\u00a0\u00a0b", "\t\t\tindented", "a" + " " * 24 + "b",
]

POOL = (list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") * 3
        + list("     ") + list("\t\n") + list(".,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`")
        + list("éèêëñÅåøØçÇßüÜöÖäÄıİ") + ["e\u0301", "\u0308", "\u0327"]
        + list("中文字符日本語한국어") + list("αβγΣσςДжЯ") + list("—–…“”‘’«»¡¿")
        + ["😀", "👍", "🏽", "\u200d", "\u00a0", "\u3000", "\x00", "\x07", "\ufeff", "\u200b"]
        + ["[MASK]", "[CLS]", "[SEP]", "[mask]", "<|endoftext|>", "  ", "   "]
        + list("½²①ⅫΩ∞€©"))


def random_texts(count, seed=20240611):
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        n = rng.randint(1, 40)
        out.append("".join(rng.choice(POOL) for _ in range(n)))
    return out


def wikitext_lines(count):
    path = os.path.join(DATA, "wikitext-2", "wiki.test.raw")
    if not os.path.exists(path):
        return []
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.strip() and len(line) <= 700:
                out.append(line)
            if len(out) == count:
                break
    return out


def inputs():
    texts, seen = [], set()
    for t in HAND_WRITTEN + wikitext_lines(50) + random_texts(160):
        if t not in seen:
            seen.add(t)
            texts.append(t)
    return texts


def vectors_write(name, tok, texts, source):
    cases = []
    for t in texts:
        ids = tok.encode(t, False)
        ids_special = tok.encode(t, True)
        cases.append({"text": t, "ids": ids, "ids_special": ids_special,
                      "decoded": tok.decode(ids_special, False),
                      "decoded_skip_special": tok.decode(ids_special, True)})
    doc = {"tokenizer": name, "source": source,
           "generator": "tests/ref/tokenizer_reference.py",
           "unicode": unicodedata.unidata_version, "cases": cases}
    path = os.path.join(TOKENIZERS, "test-vectors", name + ".json")
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("{\n")
        for key in ("tokenizer", "source", "generator", "unicode"):
            f.write(f"  {json.dumps(key)}: {json.dumps(doc[key], ensure_ascii=False)},\n")
        f.write('  "cases": [\n')
        for k, c in enumerate(cases):
            sep = "," if k + 1 < len(cases) else ""
            f.write("    " + json.dumps(c, ensure_ascii=False) + sep + "\n")
        f.write("  ]\n}\n")
    print(f"{path}: {len(cases)} cases")


def self_check(bert, mbert):
    """A few values known from HF (its docs and model cards), so the reference itself
    is checked, not only compared with dlm."""
    assert bert.encode("Hello world", True) == [101, 7592, 2088, 102]
    assert bert.decode(bert.encode("Hello, world!", True), True) == "hello, world!"
    assert mbert.encode("Hello world", True) == [50281, 12092, 1533, 50282]
    assert gpt2_split("Hello world's  end\n\n x") == \
        ["Hello", " world", "'s", " ", " end", "\n\n", " x"]


def main():
    if sys.version_info < (3, 8):
        sys.exit("needs python >= 3.8")
    bert = Bert(os.path.join(TOKENIZERS, "bert-base-uncased"))
    mbert = ByteBpe(os.path.join(TOKENIZERS, "modernbert-base"))
    self_check(bert, mbert)
    texts = inputs()
    vectors_write("bert-base-uncased", bert, texts,
                  "tests/data/tokenizers/bert-base-uncased (vocab.txt; tokenizer.json checked equal)")
    vectors_write("modernbert-base", mbert, texts,
                  "tests/data/tokenizers/modernbert-base/tokenizer.json")


if __name__ == "__main__":
    main()
