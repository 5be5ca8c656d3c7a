"""SPEC §1 App creation rules 2 (allowed domains) and 3 (redirect / post-logout URIs)."""

from __future__ import annotations

import pytest

from controlplane.rules.domains import (
    normalize_domain,
    normalize_domains,
    normalize_redirect_uris,
)
from controlplane.rules.errors import (
    DuplicateDomain,
    InvalidDomain,
    InvalidRedirectUri,
    TooManyDomains,
)

# --- rule 2: one allowed domain -------------------------------------------------------------

NORMALIZED = [
    # SPEC examples
    ("https://app.example.com/", "app.example.com", "spec-https-trailing-slash"),
    ("http://localhost:3000/", "localhost:3000", "spec-http-localhost-port"),
    # schemes, any case
    ("app.example.com", "app.example.com", "bare-domain"),
    ("http://app.example.com", "app.example.com", "http-scheme"),
    ("HTTPS://app.example.com", "app.example.com", "upper-case-https"),
    ("HtTp://app.example.com/", "app.example.com", "mixed-case-http"),
    # one trailing slash, surrounding whitespace
    ("app.example.com/", "app.example.com", "one-trailing-slash"),
    ("  https://app.example.com/ \t\n", "app.example.com", "surrounding-whitespace"),
    # host lower-cased
    ("App.Example.COM", "app.example.com", "upper-case-host"),
    # IDN to punycode (IDNA2008 + UTS #46)
    ("Bücher.Example", "xn--bcher-kva.example", "idn"),
    ("BÜCHER.EXAMPLE", "xn--bcher-kva.example", "upper-case-idn"),
    ("https://bücher.example:8443/", "xn--bcher-kva.example:8443", "idn-with-scheme-and-port"),
    ("bücher\u3002example", "xn--bcher-kva.example", "idn-ideographic-full-stop"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example", "already-punycode"),
    ("XN--BCHER-KVA.EXAMPLE", "xn--bcher-kva.example", "upper-case-punycode"),
    # localhost with an optional port
    ("localhost", "localhost", "localhost"),
    ("LOCALHOST:8080", "localhost:8080", "upper-case-localhost-port"),
    ("localhost:3000/", "localhost:3000", "localhost-port-slash"),
    # ports 1-65535 on any host
    ("app.example.com:1", "app.example.com:1", "port-1"),
    ("app.example.com:65535", "app.example.com:65535", "port-65535"),
    ("https://app.example.com:8443/", "app.example.com:8443", "port-with-scheme"),
    # valid DNS names
    ("a.b.c.d.example.com", "a.b.c.d.example.com", "many-labels"),
    ("my-app.example.com", "my-app.example.com", "inner-hyphen"),
    ("123.example.com", "123.example.com", "numeric-non-top-label"),
    ("r3---sn.example.com", "r3---sn.example.com", "double-hyphen-ascii-label"),
    ("a" * 63 + ".com", "a" * 63 + ".com", "label-63-chars"),
    (".".join(["a" * 63] * 3 + ["b" * 61]), ".".join(["a" * 63] * 3 + ["b" * 61]), "name-253"),
]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [case[:2] for case in NORMALIZED],
    ids=[case[2] for case in NORMALIZED],
)
def test_domain_is_normalized(raw: str, expected: str) -> None:
    assert normalize_domain(raw) == expected


REJECTED = [
    # empty
    ("", "empty"),
    ("   ", "whitespace-only"),
    ("\t\n", "tabs-and-newlines-only"),
    # whitespace and control characters inside
    ("app .example.com", "inner-space"),
    ("app\t.example.com", "inner-tab"),
    ("app.example.com\x00", "nul"),
    ("app\x7f.example.com", "del"),
    # schemes other than http(s)
    ("ftp://app.example.com", "ftp-scheme"),
    ("javascript:alert(1)", "javascript-scheme"),
    ("mailto:a@example.com", "mailto-scheme"),
    ("http:app.example.com", "http-without-slashes"),
    ("http://https://app.example.com", "scheme-twice"),
    # nothing after the scheme
    ("http://", "http-alone"),
    ("https:///", "https-slash-alone"),
    ("/", "slash-alone"),
    # wildcards
    ("*.example.com", "wildcard-label"),
    ("https://*.example.com/", "wildcard-with-scheme"),
    ("app.*.com", "wildcard-middle"),
    ("*", "wildcard-alone"),
    # paths, queries, fragments, user-info
    ("app.example.com//", "double-trailing-slash"),
    ("app.example.com/path", "path"),
    ("https://app.example.com/callback/", "path-with-trailing-slash"),
    ("app.example.com?x=1", "query"),
    ("app.example.com/?x=1", "slash-query"),
    ("app.example.com#top", "fragment"),
    ("user@app.example.com", "user-info"),
    ("https://user:pass@app.example.com/", "user-info-with-password"),
    # hosts that are not DNS names with a dot
    ("example", "no-dot"),
    ("intranet:8080", "no-dot-with-port"),
    ("192.168.0.1", "ipv4"),
    ("http://127.0.0.1:8080/", "ipv4-with-port"),
    ("example.123", "numeric-top-label"),
    ("[::1]", "ipv6"),
    ("http://[::1]:3000/", "ipv6-with-port"),
    ("::1", "ipv6-unbracketed"),
    ("example.com.", "trailing-dot"),
    ("https://example.com./", "trailing-dot-with-scheme"),
    ("localhost.", "localhost-trailing-dot"),
    (".example.com", "leading-dot"),
    ("app..example.com", "empty-label"),
    ("a" * 64 + ".com", "label-64-chars"),
    (".".join(["a" * 63] * 3 + ["b" * 62]), "name-254-chars"),
    ("-app.example.com", "leading-hyphen"),
    ("app-.example.com", "trailing-hyphen"),
    ("app.example-.com", "trailing-hyphen-top-label"),
    ("app_1.example.com", "underscore"),
    ("app%20.example.com", "percent"),
    ("xn--zz.example", "invalid-punycode"),
    ("bücher..example", "idn-empty-label"),
    ("b\u00fccher_x.example", "idn-underscore"),
    # ports
    ("app.example.com:0", "port-0"),
    ("app.example.com:65536", "port-65536"),
    ("app.example.com:99999999999", "port-huge"),
    ("app.example.com:", "port-empty"),
    ("app.example.com:080", "port-leading-zero"),
    ("app.example.com:-1", "port-negative"),
    ("app.example.com:http", "port-not-digits"),
    ("app.example.com:\u0663", "port-non-ascii-digit"),
    ("app.example.com:80:80", "two-ports"),
    (":8080", "port-without-host"),
    # length cap on raw input
    ("a" * 301, "input-over-300-chars"),
]


@pytest.mark.parametrize("raw", [case[0] for case in REJECTED], ids=[c[1] for c in REJECTED])
def test_domain_is_rejected(raw: str) -> None:
    with pytest.raises(InvalidDomain) as excinfo:
        normalize_domain(raw)
    assert excinfo.value.message
    assert excinfo.value.field is None


@pytest.mark.parametrize(
    ("raw", "phrase"),
    [
        ("", "domain is empty"),
        ("   ", "domain is empty"),
        ("*.example.com", "'*.example.com': wildcards are not allowed"),
        ("example.com.", "remove the trailing dot"),
        ("app.example.com:080", "port must be 1-65535 without leading zeros"),
        ("ftp://app.example.com", "only http:// or https://"),
        ("app.example.com/path", "paths are not allowed"),
        ("app.example.com?x=1", "queries"),
        ("app.example.com#top", "fragments"),
        ("user@app.example.com", "user@"),
        ("192.168.0.1", "IP addresses are not allowed"),
        ("[::1]", "IP addresses are not allowed"),
        ("app\x00.example.com", r"'app\x00.example.com'"),
    ],
    ids=[
        "empty",
        "whitespace-only",
        "wildcard-quotes-input",
        "trailing-dot",
        "leading-zero-port",
        "other-scheme",
        "path",
        "query",
        "fragment",
        "user-info",
        "ipv4",
        "ipv6",
        "control-char-escaped",
    ],
)
def test_domain_rejection_message(raw: str, phrase: str) -> None:
    with pytest.raises(InvalidDomain) as excinfo:
        normalize_domain(raw)
    assert phrase in excinfo.value.message
    assert str(excinfo.value) == excinfo.value.message


def test_long_input_is_quoted_shortened() -> None:
    with pytest.raises(InvalidDomain) as excinfo:
        normalize_domain("a" * 1000)
    assert len(excinfo.value.message) < 200


# --- rule 2: the list of allowed domains ----------------------------------------------------


@pytest.mark.parametrize(
    ("raws", "expected"),
    [
        (
            [],
            [],
        ),
        (["https://app.example.com/"], ["app.example.com"]),
        (
            ["https://app.example.com/", "http://localhost:3000/", "Bücher.Example"],
            ["app.example.com", "localhost:3000", "xn--bcher-kva.example"],
        ),
        (("b.example.com", "a.example.com"), ["b.example.com", "a.example.com"]),
        (["localhost:3000", "localhost:3001"], ["localhost:3000", "localhost:3001"]),
        (["app.example.com", "app.example.com:8443"], ["app.example.com", "app.example.com:8443"]),
    ],
    ids=[
        "none",
        "one",
        "three",
        "order-kept-tuple",
        "same-host-other-port",
        "port-makes-distinct",
    ],
)
def test_domains_are_normalized(raws: list[str], expected: list[str]) -> None:
    assert normalize_domains(raws) == expected


@pytest.mark.parametrize(
    ("raws", "error"),
    [
        (["a.example.com", "b.example.com", "c.example.com", "d.example.com"], TooManyDomains),
        (["https://A.example.com/", "a.example.com"], DuplicateDomain),
        (["a.example.com", "a.example.com"], DuplicateDomain),
        (["Bücher.example", "xn--bcher-kva.example"], DuplicateDomain),
        (["LOCALHOST:3000", "http://localhost:3000/"], DuplicateDomain),
        (["a.example.com", "*.example.com"], InvalidDomain),
        (["a.example.com", ""], InvalidDomain),
        (["a.example.com", 3], InvalidDomain),
        ("a.example.com", InvalidDomain),
        (None, InvalidDomain),
    ],
    ids=[
        "fourth-domain",
        "duplicate-after-normalization",
        "exact-duplicate",
        "duplicate-idn-and-punycode",
        "duplicate-localhost",
        "one-invalid",
        "one-empty",
        "not-a-string",
        "string-not-list",
        "none-not-list",
    ],
)
def test_domains_are_rejected(raws: list[str], error: type[InvalidDomain]) -> None:
    with pytest.raises(error) as excinfo:
        normalize_domains(raws)
    assert type(excinfo.value) is error
    assert excinfo.value.message
    assert excinfo.value.field == "allowed_domains"


def test_duplicate_message_names_both_inputs() -> None:
    with pytest.raises(DuplicateDomain) as excinfo:
        normalize_domains(["https://A.example.com/", "a.example.com"])
    message = excinfo.value.message
    assert "'https://A.example.com/'" in message
    assert "'a.example.com'" in message


# --- rule 3: redirect and post-logout URIs --------------------------------------------------


@pytest.mark.parametrize(
    ("raws", "expected"),
    [
        ([], []),
        (["https://app.example.com/cb"], ["https://app.example.com/cb"]),
        (["http://localhost:3000/cb"], ["http://localhost:3000/cb"]),
        (["com.example.app://callback/path"], ["com.example.app://callback/path"]),
        (["https://app.example.com"], ["https://app.example.com"]),
        (["https://app.example.com/cb?x=1"], ["https://app.example.com/cb?x=1"]),
        (["http://[::1]:3000/cb"], ["http://[::1]:3000/cb"]),
        (["  https://app.example.com/cb\n"], ["https://app.example.com/cb"]),
        (["HTTPS://App.Example.com/CB"], ["HTTPS://App.Example.com/CB"]),
        (
            ["https://app.example.com/cb", "https://App.example.com/cb"],
            ["https://app.example.com/cb", "https://App.example.com/cb"],
        ),
        ([f"https://app.example.com/{i}" for i in range(10)], None),
        (["https://app.example.com/" + "a" * 1976], None),
    ],
    ids=[
        "none",
        "https",
        "http-localhost",
        "custom-scheme-with-host",
        "no-path",
        "query-kept",
        "ipv6-literal",
        "surrounding-whitespace-stripped",
        "kept-as-given",
        "exact-strings-differ",
        "ten-uris",
        "2000-chars",
    ],
)
def test_redirect_uris_are_accepted(raws: list[str], expected: list[str] | None) -> None:
    result = normalize_redirect_uris(raws, field="redirect_uris")
    assert result == (raws if expected is None else expected)


REDIRECT_REJECTED = [
    (["/cb"], "relative-path"),
    (["example.com/cb"], "no-scheme"),
    (["localhost:3000/cb"], "no-scheme-localhost"),
    (["https://"], "no-host"),
    (["https:///cb"], "empty-host"),
    (["https://:443/cb"], "port-without-host"),
    (["mailto:x@y"], "mailto"),
    (["urn:example:cb"], "urn"),
    (["https://app.example.com/cb#frag"], "fragment"),
    (["https://app.example.com/cb#"], "empty-fragment"),
    (["https://app.example.com/c b"], "inner-space"),
    (["https://app.example.com/cb\x00"], "control-char"),
    (["https://app.example.com/\tcb"], "inner-tab"),
    (["https://bücher.example/cb"], "non-ascii"),
    (["https://app.example.com:abc/cb"], "bad-port"),
    (["https://app.example.com:99999/cb"], "port-out-of-range"),
    (["http://[::1/cb"], "broken-ipv6"),
    (["javascript://app.example.com/%0Aalert(1)"], "javascript-scheme"),
    (["data://app.example.com/x"], "data-scheme"),
    ([""], "empty"),
    (["   "], "whitespace-only"),
    (["https://app.example.com/" + "a" * 1977], "over-2000-chars"),
    (["https://app.example.com/" + "a" * 10_000], "huge"),
    ([f"https://app.example.com/{i}" for i in range(11)], "eleven-uris"),
    (["https://app.example.com/cb", "https://app.example.com/cb"], "duplicate"),
    (["https://app.example.com/cb", " https://app.example.com/cb "], "duplicate-after-strip"),
    ([None], "not-a-string"),
    ("https://app.example.com/cb", "string-not-list"),
]


@pytest.mark.parametrize(
    "raws", [case[0] for case in REDIRECT_REJECTED], ids=[c[1] for c in REDIRECT_REJECTED]
)
@pytest.mark.parametrize("field", ["redirect_uris", "post_logout_redirect_uris"])
def test_redirect_uris_are_rejected(raws: list[str], field: str) -> None:
    with pytest.raises(InvalidRedirectUri) as excinfo:
        normalize_redirect_uris(raws, field=field)
    assert excinfo.value.message
    assert excinfo.value.field == field
