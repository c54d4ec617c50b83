"""URL, hashtag, mention and text keys."""

import polars as pl
import pytest

from features.normalize import normalize_hashtag, normalize_mention, normalize_text, normalize_url


def _one(expr_fn, value, **kw):
    return pl.select(expr_fn(pl.lit(value, dtype=pl.String), **kw)).item()


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ("HTTPS://WWW.Example.COM/a/?utm_source=x&id=7", "https://example.com/a?id=7"),
        ("https://example.com/a", "https://example.com/a"),
        ("https://example.com/a/", "https://example.com/a"),
        ("http://example.com/", "http://example.com"),
        ("www.Example.com/Path/", "example.com/Path"),
        ("https://x.org/p?UTM_Medium=a&fbclid=b&gclid=c", "https://x.org/p"),
        ("https://x.org/p?a=1&b=2#frag", "https://x.org/p?a=1&b=2#frag"),
        ("https://x.org/Case/Sensitive", "https://x.org/Case/Sensitive"),
        ("https://x.org/p?utm=keep", "https://x.org/p?utm=keep"),
        ("  https://x.org/p  ", "https://x.org/p"),
    ],
)
def test_url_normalisation(raw, key):
    assert _one(normalize_url, raw) == key


def test_tracking_params_are_configurable():
    assert _one(normalize_url, "https://x.org/p?src=tw&id=1", tracking_params=("src",)) == "https://x.org/p?id=1"
    assert _one(normalize_url, "https://x.org/p?utm_source=a", tracking_params=()) == "https://x.org/p?utm_source=a"


@pytest.mark.parametrize(("raw", "key"), [("#MAGA", "maga"), ("maga", "maga"), (" #Vote ", "vote"), ("##x", "x"), ("Ünïcode", "ünïcode")])
def test_hashtag_normalisation(raw, key):
    assert _one(normalize_hashtag, raw) == key


@pytest.mark.parametrize(("raw", "key"), [("@Jane_Doe", "jane_doe"), ("jane_doe", "jane_doe"), (" @@X ", "x"), ("123456", "123456"), ("a@b", "a@b")])
def test_mention_normalisation(raw, key):
    assert _one(normalize_mention, raw) == key


@pytest.mark.parametrize(
    "raw",
    [
        "RT  @bob Vote  NOW!",
        "  Hello\tWorld\n",
        "@only",
        "Émoji 🎉 @x@y trailing @",
        "a\x1cb",
        "a@m\x1fb c",
        "ÀÉÎ ünïcödé\u00a0nbsp",
        "שלום @user עולם",
    ],
)
def test_text_key_equals_the_toolkits(raw):
    from coordination_network_toolkit.similarity import message_preprocessor

    assert _one(normalize_text, raw) == message_preprocessor(raw)
