"""Names for demo people: Taiwanese names in Traditional characters (with their Simplified form and
a Wade–Giles style romanisation, as Taiwanese passports write them) and English names.

Pure data and functions of a `random.Random`, so that the same seed gives the same people.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass

# (traditional, simplified, romanised, weight): the commonest surnames in Taiwan, roughly by share.
SURNAMES: tuple[tuple[str, str, str, int], ...] = (
    ("陳", "陈", "Chen", 112),
    ("林", "林", "Lin", 83),
    ("黃", "黄", "Huang", 60),
    ("張", "张", "Chang", 53),
    ("李", "李", "Lee", 51),
    ("王", "王", "Wang", 41),
    ("吳", "吴", "Wu", 40),
    ("劉", "刘", "Liu", 32),
    ("蔡", "蔡", "Tsai", 29),
    ("楊", "杨", "Yang", 26),
    ("許", "许", "Hsu", 23),
    ("鄭", "郑", "Cheng", 19),
    ("謝", "谢", "Hsieh", 18),
    ("郭", "郭", "Kuo", 17),
    ("洪", "洪", "Hung", 16),
    ("邱", "邱", "Chiu", 15),
    ("曾", "曾", "Tseng", 15),
    ("廖", "廖", "Liao", 14),
    ("賴", "赖", "Lai", 14),
    ("徐", "徐", "Hsu", 13),
    ("周", "周", "Chou", 13),
    ("葉", "叶", "Yeh", 12),
    ("蘇", "苏", "Su", 12),
    ("莊", "庄", "Chuang", 10),
    ("呂", "吕", "Lu", 10),
    ("江", "江", "Chiang", 9),
    ("何", "何", "Ho", 9),
    ("蕭", "萧", "Hsiao", 9),
    ("羅", "罗", "Lo", 8),
    ("高", "高", "Kao", 8),
    ("簡", "简", "Chien", 6),
    ("歐陽", "欧阳", "Ouyang", 1),
)

# (traditional, simplified, romanised) syllables that Taiwanese given names are built from.
_MALE = (
    ("志", "志", "chih"),
    ("明", "明", "ming"),
    ("建", "建", "chien"),
    ("宏", "宏", "hung"),
    ("俊", "俊", "chun"),
    ("傑", "杰", "chieh"),
    ("家", "家", "chia"),
    ("豪", "豪", "hao"),
    ("冠", "冠", "kuan"),
    ("宇", "宇", "yu"),
    ("承", "承", "cheng"),
    ("翰", "翰", "han"),
    ("柏", "柏", "po"),
    ("瑋", "玮", "wei"),
    ("偉", "伟", "wei"),
    ("政", "政", "cheng"),
    ("德", "德", "te"),
    ("信", "信", "hsin"),
    ("彥", "彦", "yen"),
    ("文", "文", "wen"),
    ("國", "国", "kuo"),
    ("榮", "荣", "jung"),
    ("哲", "哲", "che"),
    ("威", "威", "wei"),
)
_FEMALE = (
    ("雅", "雅", "ya"),
    ("婷", "婷", "ting"),
    ("怡", "怡", "yi"),
    ("君", "君", "chun"),
    ("淑", "淑", "shu"),
    ("芬", "芬", "fen"),
    ("美", "美", "mei"),
    ("玲", "玲", "ling"),
    ("欣", "欣", "hsin"),
    ("惠", "惠", "hui"),
    ("佳", "佳", "chia"),
    ("琪", "琪", "chi"),
    ("詩", "诗", "shih"),
    ("涵", "涵", "han"),
    ("庭", "庭", "ting"),
    ("慧", "慧", "hui"),
    ("嘉", "嘉", "chia"),
    ("萱", "萱", "hsuan"),
    ("靜", "静", "ching"),
    ("筱", "筱", "hsiao"),
    ("秀", "秀", "hsiu"),
    ("麗", "丽", "li"),
    ("如", "如", "ju"),
    ("安", "安", "an"),
)

ENGLISH_GIVEN_MALE = (
    "David", "Michael", "Kevin", "Jason", "Eric", "Andy", "Jack", "Vincent", "Peter", "Allen",
    "Steven", "Frank", "Ryan", "Leo", "Daniel", "James", "Thomas", "Mark",
)  # fmt: skip
ENGLISH_GIVEN_FEMALE = (
    "Jennifer", "Vivian", "Grace", "Emily", "Amy", "Tiffany", "Cindy", "Irene", "Joanna",
    "Sophie", "Claire", "Winnie", "Angela", "Rachel", "Sarah", "Megan", "Laura", "Olivia",
)  # fmt: skip
# Expatriate and foreign-resident family names (Taiwan's largest foreign communities included).
FOREIGN_SURNAMES = (
    "Smith", "Johnson", "Miller", "Brown", "Wilson", "Taylor", "Martin", "Anderson", "Tanaka",
    "Suzuki", "Sato", "Kim", "Park", "Nguyen", "Tran", "Santos", "Garcia", "Müller", "Dubois",
)  # fmt: skip

_SURNAME_WEIGHTS = [s[3] for s in SURNAMES]


@dataclass(frozen=True, slots=True)
class PersonName:
    """A display name in the person's own script and the plain-ASCII parts an email is made of."""

    display: str
    given_ascii: str
    family_ascii: str


def chinese_name(rng: random.Random, *, simplified: bool = False) -> PersonName:
    """A Taiwanese name: surname and a two-syllable given name (sometimes one syllable)."""
    trad, simp, family, _weight = rng.choices(SURNAMES, weights=_SURNAME_WEIGHTS)[0]
    pool = _MALE if rng.random() < 0.5 else _FEMALE
    count = 1 if rng.random() < 0.06 else 2
    syllables = rng.sample(pool, count)
    given = "".join(s[1] if simplified else s[0] for s in syllables)
    surname = simp if simplified else trad
    given_ascii = "".join(s[2] for s in syllables)
    return PersonName(display=surname + given, given_ascii=given_ascii, family_ascii=family)


def english_name(rng: random.Random) -> PersonName:
    """An English name: a Taiwanese with an English given name ("Kevin Chen") or a foreigner."""
    given = rng.choice(ENGLISH_GIVEN_MALE if rng.random() < 0.5 else ENGLISH_GIVEN_FEMALE)
    if rng.random() < 0.55:
        family = rng.choices(SURNAMES, weights=_SURNAME_WEIGHTS)[0][2]
    else:
        family = rng.choice(FOREIGN_SURNAMES)
    return PersonName(display=f"{given} {family}", given_ascii=given, family_ascii=_ascii(family))


def _ascii(text: str) -> str:
    """ "Müller" → "Muller": email addresses stay plain ASCII."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
