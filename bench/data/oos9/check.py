"""Validates the ninth frozen out-of-sample set (brands, FAQs, posts) and prints its counts.

Run from the project root: `python bench/data/oos9/check.py`. Exit status 1 on any error.
The set is frozen: besides the structure, the files must match the hashes in SHA256SUMS, so an edit
(even a well-meant fix) shows up here instead of silently changing what the figures mean. The checks
themselves are bench/data/frozen_set.py's, shared by the sets of the same format.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import frozen_set  # noqa: E402

SET = frozen_set.FrozenSet(
    here=HERE,
    name="oos9",
    # The cinema chain is German but also gets posts in English from expats who go to its
    # original-version screenings; its FAQ stays German. Every other post is in its brand's language.
    other_languages={"lichtspiel": {"en"}},
    min_posts={"de": 110, "en": 60},
    brand_order=("sonnfeld", "lichtspiel", "belegbaer", "forkful"),
)


def main() -> int:
    return frozen_set.main(SET)


if __name__ == "__main__":
    sys.exit(main())
