import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RECORDINGS = ROOT / "data" / "recordings"
REDMIST = RECORDINGS / "redmist"
SEBRING = RECORDINGS / "sebring-2009"


@pytest.fixture
def redmist_dir() -> Path:
    return REDMIST


@pytest.fixture
def sebring_dir() -> Path:
    return SEBRING
