"""Reading inbound email: MIME parsing, Chinese encodings, HTML to text, attachments, and the
clues that thread a reply into its case. Plain code: bytes in, a ParsedMail out, no ORM.

Mail in the wild is broken in every way: GBK or Big5 text labelled as ISO-8859-1 or not labelled
at all, raw 8-bit bytes in headers, RFC 2047 words with a wrong charset, truncated multiparts,
binary garbage. `parse` never raises: it decodes with the declared charset when that works and
looks plausible, else with the charset charset-normalizer finds, else with replacement characters,
and it lists what it had to work around in `problems` so the mail can be flagged for a person.
"""

from __future__ import annotations

import codecs
import datetime as dt
import email
import email.policy
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from email.header import decode_header
from email.message import Message
from email.utils import getaddresses, parseaddr, parsedate_to_datetime
from html.parser import HTMLParser

from charset_normalizer import from_bytes

HEAD_SCAN = 1024 * 1024  # where to look for the end of the headers of an oversized mail
MAX_PROBLEMS = 20
MAX_TEXT = 200_000  # characters of body text kept

# Declared charsets read as the superset real mailers mean by them.
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "cp936": "gb18030",
    "euc-cn": "gb18030",
    "big5": "big5hkscs",
    "x-big5": "big5hkscs",
    "cn-big5": "big5hkscs",
    "ks_c_5601-1987": "cp949",
    "euc-kr": "cp949",
    "unicode-1-1-utf-7": "utf-7",
    "utf8": "utf-8",
}
# Labels often put on CJK text by mistake: any 8-bit bytes decode "successfully" as them.
_WEAK = {"ascii", "iso8859-1", "cp1252"}  # as codecs.lookup names them
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef]")
_MSGID = re.compile(r"<[^<>\s]{1,250}>")
_EMAIL = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_REF_PATTERNS = (
    re.compile(r"(?<![\w-])C-(\d{6,9})\b"),  # the case ref our messages carry: "(C-000123)"
    re.compile(r"\[#(\d{1,9})\]"),  # "[#123]"
)
_QUOTE_HEADS = (
    re.compile(r"^On .{4,200} wrote:\s*$"),
    re.compile(r"^.{0,200}(於|在).{0,200}(寫道|写道)[:：]\s*$"),
    re.compile(r"^-{2,}\s*(Original Message|原始邮件|原始郵件|原始信件)\s*-{2,}\s*$", re.I),
    re.compile(r"^(From|寄件者|发件人|發件人)\s*[:：].+$"),
)


@dataclass
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class ParsedMail:
    message_id: str = ""
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    from_address: str = ""
    from_name: str = ""
    to_addresses: list[str] = field(default_factory=list)
    subject: str = ""
    text: str = ""
    html_only: bool = False
    charset: str = ""
    sent_at: dt.datetime | None = None
    attachments: list[Attachment] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    too_large: bool = False

    def problem(self, what: str) -> None:
        if what not in self.problems and len(self.problems) < MAX_PROBLEMS:
            self.problems.append(what)

    @property
    def thread_ids(self) -> list[str]:
        """Message-IDs this mail answers, nearest first (In-Reply-To, then References
        from the newest)."""
        seen: list[str] = []
        for mid in [self.in_reply_to, *reversed(self.references)]:
            if mid and mid not in seen:
                seen.append(mid)
        return seen


# --- text decoding ------------------------------------------------------------------------


def _codec(label: str | None) -> str | None:
    """The Python codec for a MIME charset label, or None when unknown."""
    if not label:
        return None
    name = label.strip().strip('"').lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name
    except LookupError:
        return None


_CANDIDATES = ("big5hkscs", "gb18030", "cp949", "shift_jis")


def _common(ch: str, codec: str) -> float:
    """How plausible one decoded character is: common hanzi (GB2312 level 1, Big5 level 1),
    ASCII and CJK punctuation fully; Hangul/kana a little less, and only from their codecs."""
    if ch.isascii() or "\u3000" <= ch <= "\u303f" or "\uff01" <= ch <= "\uff5e":
        return 1.0
    if "\u4e00" <= ch <= "\u9fff":
        for enc, low, high in (("gb2312", 0xB0, 0xD7), ("big5", 0xA4, 0xC6)):
            try:
                if low <= ch.encode(enc)[0] <= high:
                    return 1.0
            except UnicodeEncodeError:
                pass
        return 0.2
    if codec == "cp949" and "\uac00" <= ch <= "\ud7a3":
        return 0.9
    if codec == "shift_jis" and "\u3040" <= ch <= "\u30ff":
        return 0.9
    return 0.0


def _cjk_guess(data: bytes) -> tuple[str, str, float] | None:
    """The likeliest East Asian reading of 8-bit data: every candidate codec that decodes it
    strictly, scored by how common its characters are (short strings fool statistical
    detectors; character frequency does not)."""
    best: tuple[str, str, float] | None = None
    for codec in _CANDIDATES:
        try:
            text = data.decode(codec)
        except UnicodeDecodeError:
            continue
        sample = [c for c in text[:2000] if not c.isascii()]
        if not sample:
            continue
        score = sum(_common(c, codec) for c in sample) / len(sample)
        if best is None or score > best[2]:
            best = (text, codecs.lookup(codec).name, score)
    return best


def _guess(data: bytes) -> tuple[str, str] | None:
    cjk = _cjk_guess(data)
    if cjk and cjk[2] >= 0.6:
        return cjk[0], cjk[1]
    match = from_bytes(data[:200_000]).best()
    if match is None or match.encoding is None:
        return None
    codec = _codec(match.encoding) or match.encoding
    try:
        return data.decode(codec), codec
    except (UnicodeDecodeError, LookupError):
        return None


def decode_bytes(data: bytes, declared: str | None) -> tuple[str, str, bool]:
    """(text, codec used, whether the declared charset was wrong or missing for this data)."""
    if not data:
        return "", _codec(declared) or "", False
    if data.isascii():
        return data.decode("ascii"), _codec(declared) or "us-ascii", False
    codec = _codec(declared)
    if codec and codec not in _WEAK:
        try:
            return data.decode(codec), codec, False
        except UnicodeDecodeError:
            pass
    elif codec:  # a weak label over 8-bit data: believe it only if nothing CJK fits better
        guessed = _guess(data)
        if guessed and _CJK.search(guessed[0]):
            return guessed[0], guessed[1], True
        return data.decode(codec, errors="replace"), codec, False
    try:  # unlabelled: UTF-8 is by far the likeliest
        return data.decode("utf-8"), "utf-8", declared is not None
    except UnicodeDecodeError:
        pass
    guessed = _guess(data)
    if guessed:
        return guessed[0], guessed[1], True
    return data.decode("utf-8", errors="replace"), "utf-8", True


def decode_header_value(raw: str, problems: ParsedMail | None = None) -> str:
    """A header as text: RFC 2047 words in any (even wrong) charset, and raw 8-bit bytes."""
    if not raw:
        return ""
    try:
        chunks = decode_header(raw)
    except Exception:  # a malformed encoded word: read the whole value as raw bytes
        chunks = [(raw.encode("ascii", "surrogateescape"), None)]
        if problems is not None:
            problems.problem("header:bad_encoded_word")
    out = []
    for value, charset in chunks:
        if isinstance(value, str):
            value = value.encode("ascii", "surrogateescape")
        text, _codec_used, wrong = decode_bytes(value, charset)
        if wrong and problems is not None:
            problems.problem("header:charset_guessed")
        out.append(text)
    return re.sub(r"\s+", " ", "".join(out)).strip()


# --- HTML to text --------------------------------------------------------------------------


class _Text(HTMLParser):
    BLOCK = {
        "p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol",
        "blockquote", "section", "article", "header", "footer", "hr", "pre",
    }  # fmt: skip
    SKIP = {"script", "style", "head", "title", "noscript", "template"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0
        self.href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.SKIP:
            self.skipping += 1
        elif tag in self.BLOCK:
            self.parts.append("\n")
            if tag == "li":
                self.parts.append("- ")
        elif tag in {"td", "th"}:
            self.parts.append(" ")
        elif tag == "a":
            self.href = dict(attrs).get("href")
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.parts.append(f"[{alt}]")

    def handle_endtag(self, tag: str) -> None:
        if tag in self.SKIP:
            self.skipping = max(0, self.skipping - 1)
        elif tag in self.BLOCK:
            self.parts.append("\n")
        elif tag == "a" and self.href:
            if self.href.startswith(("http://", "https://")):
                self.parts.append(f" ({self.href})")
            self.href = None

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail: paragraphs and list items on their own lines, links
    with their address, no scripts or styles."""
    parser = _Text()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # HTMLParser is lenient; this is for the truly unexpected
        return re.sub(r"<[^>]*>", " ", html)
    text = "".join(parser.parts).replace("\xa0", " ")
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in text.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def strip_quoted(text: str) -> str:
    """The new part of a reply: cut at the quoted earlier message ("On … wrote:", "> " lines,
    Outlook's "From:" block, their Chinese forms). Returns the text unchanged when nothing
    would be left."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        stripped = line.strip()
        if any(p.match(stripped) for p in _QUOTE_HEADS) or (
            stripped.startswith(">") and all(not x.strip() or x.lstrip().startswith(">")
                                             for x in lines[i:])
        ):  # fmt: skip
            head = "\n".join(lines[:i]).strip()
            return head or text.strip()
    return text.strip()


# --- parsing --------------------------------------------------------------------------------


def _raw_headers(msg: Message, name: str) -> list[str]:
    """The header's values as stored (no policy parsing, which can raise on broken values)."""
    return [str(v) for k, v in msg.raw_items() if k.lower() == name.lower()]


def _first(msg: Message, name: str, mail: ParsedMail) -> str:
    values = _raw_headers(msg, name)
    return decode_header_value(values[0], mail) if values else ""


def _ids(value: str) -> list[str]:
    return _MSGID.findall(value or "")


def _parts(msg: Message) -> Iterator[Message]:
    """Leaf parts, not descending into attached messages (those are attachments)."""
    if msg.get_content_maintype() == "multipart":
        payload = msg.get_payload()
        if isinstance(payload, list):
            for sub in payload:
                if isinstance(sub, Message):
                    yield from _parts(sub)
        return
    yield msg


def _payload(part: Message) -> bytes:
    if part.get_content_type() == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return inner[0].as_bytes(policy=email.policy.compat32)
        return b""
    try:
        data = part.get_payload(decode=True)
    except Exception:
        data = None
    if isinstance(data, bytes):
        return data
    raw = part.get_payload()
    return raw.encode("ascii", "surrogateescape") if isinstance(raw, str) else b""


def _filename(part: Message, mail: ParsedMail) -> str:
    try:
        name = part.get_filename() or ""
    except Exception:
        name = ""
        mail.problem("attachment:bad_filename")
    if re.search(r"[\udc80-\udcff]", name):  # raw 8-bit bytes in the parameter
        name = decode_bytes(name.encode("utf-8", "surrogateescape"), None)[0]
    if "=?" in name:
        name = decode_header_value(name, mail)
    return re.sub(r"[\\/\x00-\x1f]", "_", name)[:255]


def _is_attachment(part: Message, mail: ParsedMail) -> bool:
    try:
        disposition = (part.get_content_disposition() or "").lower()
    except Exception:
        disposition = ""
    if disposition == "attachment":
        return True
    if part.get_content_maintype() != "text":
        return True
    return bool(_filename(part, mail)) and disposition != "inline"


def _headers_only(raw: bytes) -> Message:
    head = raw[:HEAD_SCAN]
    for sep in (b"\r\n\r\n", b"\n\n"):
        at = head.find(sep)
        if at >= 0:
            head = head[: at + len(sep)]
            break
    return email.message_from_bytes(head, policy=email.policy.default)


def _collect_defects(msg: Message, mail: ParsedMail) -> None:
    for part in [msg, *(p for p in msg.walk() if p is not msg)] if _walkable(msg) else [msg]:
        for defect in getattr(part, "defects", ()):
            mail.problem("mime:" + type(defect).__name__)


def _walkable(msg: Message) -> bool:
    try:
        list(msg.walk())
        return True
    except Exception:
        return False


def parse(raw: bytes, max_bytes: int = 25 * 1024 * 1024) -> ParsedMail:
    """Everything Rapport needs from one RFC 822 message; never raises."""
    mail = ParsedMail()
    try:
        _parse(raw, max_bytes, mail)
    except Exception as exc:  # the last line of defence: keep the mail, say what happened
        mail.problem(f"parse_failed:{type(exc).__name__}")
    if not mail.from_address:
        mail.problem("missing_from")
    mail.text = mail.text[:MAX_TEXT]
    mail.subject = mail.subject[:300]
    return mail


def _parse(raw: bytes, max_bytes: int, mail: ParsedMail) -> None:
    if not raw.strip():
        mail.problem("empty")
        return
    if len(raw) > max_bytes:
        mail.too_large = True
        mail.problem("too_large")
        msg = _headers_only(raw)
    else:
        msg = email.message_from_bytes(raw, policy=email.policy.default)
    if not list(msg.raw_items()):
        mail.problem("no_headers")
    if b"\x00" in raw[:65536] and not mail.too_large:
        mail.problem("binary_content")
    _collect_defects(msg, mail)
    _read_headers(msg, mail)
    if mail.too_large:
        mail.text = ""
        return
    _read_body(msg, mail)


def _read_headers(msg: Message, mail: ParsedMail) -> None:
    mail.subject = _first(msg, "Subject", mail)
    sender = _first(msg, "From", mail) or _first(msg, "Sender", mail)
    name, address = parseaddr(sender)
    address = address.strip().lower()
    if address and _EMAIL.match(address):
        mail.from_address, mail.from_name = address[:254], name.strip()[:200]
    elif sender:
        mail.problem("bad_from")
        mail.from_name = sender[:200]
    recipients: list[str] = []
    for header in ("To", "Cc", "Delivered-To", "X-Original-To", "Envelope-To"):
        for value in _raw_headers(msg, header):
            for _n, addr in getaddresses([decode_header_value(value, mail)]):
                addr = addr.strip().lower()
                if addr and _EMAIL.match(addr) and addr not in recipients:
                    recipients.append(addr)
    mail.to_addresses = recipients[:50]
    ids = _ids(_first(msg, "Message-ID", mail))
    mail.message_id = ids[0] if ids else ""
    replied = _ids(_first(msg, "In-Reply-To", mail))
    mail.in_reply_to = replied[0] if replied else ""
    mail.references = _ids(" ".join(_raw_headers(msg, "References")))[-50:]
    date = _first(msg, "Date", mail)
    if date:
        try:
            sent = parsedate_to_datetime(date)
            mail.sent_at = sent if sent.tzinfo else sent.replace(tzinfo=dt.UTC)
        except (TypeError, ValueError, IndexError, OverflowError):
            mail.problem("header:bad_date")


def _read_body(msg: Message, mail: ParsedMail) -> None:
    plain: list[str] = []
    html: list[str] = []
    for part in _parts(msg):
        if _is_attachment(part, mail):
            data = _payload(part)
            mail.attachments.append(
                Attachment(
                    _filename(part, mail) or _default_name(part),
                    part.get_content_type()[:100],
                    data,
                )
            )
            continue
        data = _payload(part)
        try:
            declared = part.get_content_charset()
        except Exception:
            declared = None
        text, used, wrong = decode_bytes(data, declared)
        if wrong:
            mail.problem("body:charset_guessed")
        if not mail.charset and used:
            mail.charset = used
        (html if part.get_content_subtype() == "html" else plain).append(text)
    if any(t.strip() for t in plain):
        mail.text = "\n\n".join(t.strip() for t in plain if t.strip())
    elif html:
        mail.html_only = True
        mail.text = "\n\n".join(html_to_text(t) for t in html)
    mail.text = mail.text.replace("\r\n", "\n").replace("\x00", "")


def _default_name(part: Message) -> str:
    subtype = part.get_content_subtype()
    return "message.eml" if part.get_content_type() == "message/rfc822" else f"part.{subtype}"


# --- threading clues ------------------------------------------------------------------------


def case_ids(subject: str, addresses: Iterable[str] = (), inbox: str = "") -> list[int]:
    """Case numbers the mail names: "C-000123" or "[#123]" in the subject, or a plus address
    of the inbox (cases+123@… or cases+C-000123@…) among the recipients."""
    found: list[int] = []
    for pattern in _REF_PATTERNS:
        found += [int(n) for n in pattern.findall(subject or "")]
    local, _at, domain = inbox.lower().partition("@")
    for address in addresses:
        a_local, _at, a_domain = address.lower().partition("@")
        base, plus, tag = a_local.partition("+")
        if not plus or (inbox and (base != local or a_domain != domain)):
            continue
        match = re.fullmatch(r"(?:c-?)?(\d{1,9})", tag)
        if match:
            found.append(int(match.group(1)))
    return list(dict.fromkeys(n for n in found if n > 0))


def language_hint(charset: str, text: str) -> str:
    """The customer language a new sender most likely writes in: the charset says simplified
    (GB*) or traditional (Big5) Chinese; other CJK text counts as traditional (Taiwan first)."""
    c = (charset or "").lower().replace("_", "").replace("-", "")
    if c.startswith(("gb", "hz")):
        return "zh-hans"
    if c.startswith("big5") or c == "cp950":
        return "zh-hant"
    if _CJK.search(text[:2000] or ""):
        return "zh-hant"
    return "en"
