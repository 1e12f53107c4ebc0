from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest


def _message(external_id: str, text: str = "我的订单 DD123456789 还没发货", **extra: Any) -> dict:
    return {"external_id": external_id, "sender": {"email": "li@example.cn", "name": "李"},
            "text": text, **extra}


@pytest.fixture(name="message")
def message_fixture() -> Callable[..., dict]:
    return _message
