"""What the simulator precomputes from its seed: authors, per-language sentences, vocabulary.

Faker is slow (tens of microseconds a name), so everything it makes is made here, once per
seed, and the per-tweet code in ``ingest.simulate`` only picks from these pools with
``random.Random`` and joins strings. Every pool is a pure function of the seed.

Text is kept in Unicode's Basic Multilingual Plane and in NFC. X counts entity indices in
code points; Python's ``str`` indexes code points too, and with no character outside the BMP
a UTF-16 consumer (JavaScript) gets the same indices. Pool entries that fall outside the BMP
are dropped, so ``text[start:end]`` is the entity in every language and every tool.
"""

from __future__ import annotations

import bisect
import functools
import json
import random
import re
import threading
import unicodedata
from dataclasses import dataclass

import faker

# (lang, faker locale for names, faker locale for text or None = English text, weight).
# Faker has no lorem provider for pt, hi, tr or ko (it falls back to Latin), so those tweets
# carry English text with the right ``lang`` and locale-appropriate author names.
LANGUAGES: tuple[tuple[str, str, str | None, float], ...] = (
    ("en", "en_US", "en_US", 50.0),
    ("ja", "ja_JP", "ja_JP", 12.0),
    ("es", "es_ES", "es_ES", 10.0),
    ("pt", "pt_BR", None, 7.0),
    ("ar", "ar_AA", "ar_AA", 5.0),
    ("fr", "fr_FR", "fr_FR", 4.0),
    ("de", "de_DE", "de_DE", 3.0),
    ("hi", "hi_IN", None, 3.0),
    ("it", "it_IT", "it_IT", 2.0),
    ("ru", "ru_RU", "ru_RU", 2.0),
    ("tr", "tr_TR", None, 1.0),
    ("ko", "ko_KR", None, 1.0),
)
LANG_CODES = tuple(lang for lang, *_ in LANGUAGES)
# Family name first, as those locales write it; ko without a space.
_FAMILY_FIRST = {"ja": " ", "ko": ""}

AUTHORS = 5000
CELEBRITY_SHARES = (0.40, 0.22, 0.14, 0.10, 0.08, 0.06)  # of the celebrities' tweets
CELEBRITY_TWEET_SHARE = 0.25  # of all tweets: the top author alone writes about 10%
SENTENCES_PER_LOCALE = 400
NAME_PARTS_PER_LOCALE = 40

# Hashtags, most popular first: picked with Zipf weights, so the head dominates.
HASHTAGS = (
    "AI", "news", "python", "football", "music", "BreakingNews", "tech", "MondayMotivation",
    "DataScience", "gaming", "crypto", "NBA", "climate", "travel", "photography", "kafka",
    "MachineLearning", "movies", "art", "fitness", "food", "startup", "opensource", "books",
    "WorldCup", "F1", "KPop", "anime", "space", "javascript", "100DaysOfCode", "rustlang",
    "cloud", "devops", "cybersecurity", "LLM", "bigdata", "streaming", "programming", "webdev",
    "election", "economy", "NASA", "tennis", "cricket", "ChampionsLeague", "Olympics",
    "Netflix", "coffee", "nature", "love", "health", "science", "history", "design", "fashion",
    "podcast", "weekend", "ThrowbackThursday", "FridayFeeling", "StarWars", "Marvel",
    "SuperBowl", "Grammys", "Oscars", "Eclipse2026", "earthquake", "weather", "jobs",
    "remotework", "linux", "OpenSource", "SQL", "golang", "kubernetes", "postgres", "DevRel",
    "EdTech", "teaching", "students", "university", "research", "marathon", "cycling",
    "vegan", "recipes", "pets", "dogs", "cats", "gardening", "sunset", "selfcare",
    "mentalhealth", "motivation", "quotes", "poetry", "indiedev", "gamedev", "esports",
)  # fmt: skip
LANG_HASHTAGS = {
    "ja": ("拡散希望", "地震", "アニメ", "今日の一枚", "プロ野球"),
    "es": ("FelizLunes", "LaLiga", "Mexico", "Argentina", "noticias"),
    "pt": ("Brasil", "BBB26", "futebol", "novela", "Flamengo"),
    "ar": ("عاجل", "رمضان", "السعودية", "مصر"),
    "fr": ("Paris", "Ligue1", "actualité", "PSG"),
    "de": ("Bundesliga", "Berlin", "Nachrichten", "BVB"),
    "hi": ("India", "Bollywood", "IPL", "Cricket"),
    "it": ("SerieA", "Sanremo", "Roma"),
    "ru": ("новости", "Москва"),
    "tr": ("Türkiye", "Galatasaray"),
    "ko": ("BTS", "KDrama", "Seoul"),
}
# Trending bursts pick one of these (ranks 5..44 of HASHTAGS: common enough to have a
# baseline, rare enough that a 10-50x spike stands out).
TRENDING_RANKS = range(5, 45)

DOMAINS = (
    "github.com", "nytimes.com", "bbc.co.uk", "medium.com", "youtube.com", "theguardian.com",
    "reuters.com", "arxiv.org", "wikipedia.org", "substack.com", "espn.com", "nature.com",
    "lemonde.fr", "elpais.com", "spiegel.de", "nhk.or.jp", "example.org", "blog.example.com",
)  # fmt: skip
# Single code points, all inside the BMP (no variation selectors, no astral emoji).
EMOJI = ("☕", "✨", "⚡", "✅", "☀", "★", "♥", "⚽", "✈", "☔", "♪", "❄", "☺", "✌", "❗", "⭐")

_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9_]")
_FAKERS: dict[str, faker.Faker] = {}
_FAKER_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class Author:
    index: int
    id: str
    username: str
    name: str
    lang: str
    followers: int
    verified: bool
    user_json: str  # the includes.users entry, serialised once


@dataclass(frozen=True, slots=True)
class Pools:
    authors: tuple[Author, ...]
    author_cum_weights: tuple[float, ...]
    sentences: dict[str, tuple[str, ...]]  # lang -> sentences in that language
    lang_hashtags: dict[str, tuple[str, ...]]
    hashtag_cum_weights: tuple[float, ...]  # Zipf over HASHTAGS
    hashtag_share: tuple[float, ...]  # each global tag's share of global tag picks
    slug_words: tuple[str, ...]  # English words for URL paths

    def pick_author(self, rng: random.Random) -> Author:
        weights = self.author_cum_weights
        return self.authors[bisect.bisect(weights, rng.random() * weights[-1])]


def _faker(locale: str, seed: str) -> faker.Faker:
    fake = _FAKERS.get(locale)
    if fake is None:
        fake = _FAKERS[locale] = faker.Faker(locale)
    fake.seed_instance(seed)
    return fake


def _clean(text: str) -> str | None:
    text = unicodedata.normalize("NFC", text.strip())
    if not text or any(ord(c) > 0xFFFF for c in text):
        return None
    return text


def _ascii_handle(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _USERNAME_CHARS.sub("_", folded).strip("_")


def _sentences(seed: int) -> dict[str, tuple[str, ...]]:
    pools: dict[str, tuple[str, ...]] = {}
    for lang, _, text_locale, _ in LANGUAGES:
        if text_locale is None:
            continue
        fake = _faker(text_locale, f"{seed}-sentences-{text_locale}")
        made = (_clean(s) for s in fake.sentences(nb=SENTENCES_PER_LOCALE))
        pools[lang] = tuple(s for s in made if s)
    for lang, _, text_locale, _ in LANGUAGES:
        if text_locale is None:
            pools[lang] = pools["en"]
    return pools


def _authors(seed: int, rng: random.Random) -> tuple[tuple[Author, ...], tuple[float, ...]]:
    parts = {}
    for lang, locale, _, _ in LANGUAGES:
        fake = _faker(locale, f"{seed}-people-{locale}")
        firsts = [f for f in (_clean(fake.first_name()) for _ in range(NAME_PARTS_PER_LOCALE)) if f]
        lasts = [f for f in (_clean(fake.last_name()) for _ in range(NAME_PARTS_PER_LOCALE)) if f]
        handles = [_ascii_handle(fake.user_name()) for _ in range(NAME_PARTS_PER_LOCALE)]
        parts[lang] = (firsts or ["Alex"], lasts or ["Lee"], [h for h in handles if h] or ["user"])

    langs = LANG_CODES
    lang_weights = [w for *_, w in LANGUAGES]
    celebrities = len(CELEBRITY_SHARES)
    taken_ids: set[str] = set()
    taken_names: set[str] = set()
    ordinary_weights = [rng.paretovariate(2.0) for _ in range(AUTHORS - celebrities)]
    celebrity_total = sum(ordinary_weights) * CELEBRITY_TWEET_SHARE / (1 - CELEBRITY_TWEET_SHARE)
    weights = [share * celebrity_total for share in CELEBRITY_SHARES] + ordinary_weights
    authors = []
    for index in range(AUTHORS):
        celebrity = index < celebrities
        lang = "en" if celebrity and index < 4 else rng.choices(langs, lang_weights)[0]
        firsts, lasts, handles = parts[lang]
        first, last = rng.choice(firsts), rng.choice(lasts)
        name = f"{last}{_FAMILY_FIRST[lang]}{first}" if lang in _FAMILY_FIRST else f"{first} {last}"
        # Handles: faker's romanised user names, or the folded name, plus a suffix when taken.
        base = rng.choice(handles) if rng.random() < 0.6 else _ascii_handle(first + last)
        base = (base or rng.choice(handles))[:11]
        username = base
        while username.lower() in taken_names:
            username = f"{base}{rng.randrange(10, 10_000)}"[:15]
        taken_names.add(username.lower())
        while True:
            if rng.random() < 0.4:
                user_id = str(rng.randrange(10**7, 4 * 10**9))  # an account from before 2012
            else:
                user_id = str(rng.randrange(7 * 10**17, 19 * 10**17))  # a snowflake-era account
            if user_id not in taken_ids:
                taken_ids.add(user_id)
                break
        if celebrity:
            followers = int((80e6, 45e6, 20e6, 8e6, 3e6, 1.2e6)[index] * rng.uniform(0.7, 1.3))
            verified = True
        else:
            followers = min(int(15 * rng.paretovariate(1.1)), 40_000_000)
            verified = followers > 250_000 or rng.random() < 0.01
        following = int(rng.lognormvariate(5.5, 1.1))
        tweets = int(weights[index] * rng.lognormvariate(7.0, 1.0)) + 1
        user = {
            "id": user_id,
            "name": name,
            "username": username,
            "verified": verified,
            "public_metrics": {
                "followers_count": followers,
                "following_count": following,
                "tweet_count": tweets,
            },
        }
        user_json = json.dumps(user, ensure_ascii=False, separators=(",", ":"))
        authors.append(Author(index, user_id, username, name, lang, followers, verified, user_json))
    cumulative, total = [], 0.0
    for weight in weights:
        total += weight
        cumulative.append(total)
    return tuple(authors), tuple(cumulative)


@functools.lru_cache(maxsize=8)
def build_pools(seed: int) -> Pools:
    """Everything slow, made once per seed (cached: a test that builds a seed twice pays once)."""
    with _FAKER_LOCK:
        rng = random.Random(f"chirpstream-pools-{seed}")
        sentences = _sentences(seed)
        authors, author_cum_weights = _authors(seed, rng)
        slug_words = tuple(
            w.lower()
            for w in _faker("en_US", f"{seed}-slugs").words(nb=300)
            if _USERNAME_CHARS.sub("", w) == w
        )
    zipf = [1.0 / (rank + 1) ** 1.1 for rank in range(len(HASHTAGS))]
    total = sum(zipf)
    cumulative, running = [], 0.0
    for weight in zipf:
        running += weight
        cumulative.append(running)
    return Pools(
        authors=authors,
        author_cum_weights=author_cum_weights,
        sentences=sentences,
        lang_hashtags=LANG_HASHTAGS,
        hashtag_cum_weights=tuple(cumulative),
        hashtag_share=tuple(w / total for w in zipf),
        slug_words=slug_words or ("post",),
    )
