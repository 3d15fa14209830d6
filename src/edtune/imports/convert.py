"""Turn one raw record of a known format into edtune's support-sample fields, or refuse it by name.

Formats (told apart by their keys, so one import may mix them):
- LLaVA (`conversations: [{from: human|gpt, value}]`, `image`), as LLaVA-665K ships;
- `messages` (`role`/`content`, `images: [...]`), as ms-swift and TRL train from; `content` may be a string with
  `<image>` or a list of parts (`{"type": "image"}`, `{"type": "text", "text": ...}`);
- either of these as rows of a Parquet export, where images are `{"bytes", "path"}` structs, and The Cauldron's
  Parquet rows (`images`, `texts: [{user, assistant}]`);
Multi-turn conversations convert faithfully (turns alternate human/gpt). What the pool format cannot hold is
refused by name, never reshaped: several images, a `system` or `tool` turn, an `<image>` placeholder outside
the first human turn or with no image.
"""

from __future__ import annotations

from typing import Any

from edtune.imports.store import Refused

IMAGE = "<image>"
_ROLES = {"human": "human", "user": "human", "gpt": "gpt", "assistant": "gpt"}


def record_id(obj: dict[str, Any], default: str) -> str:
    """The record's own id (LLaVA-665K has string and integer ids), else a stable one from file and line."""
    value = obj.get("id")
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise Refused("id", f"expected a string or integer, got {type(value).__name__}")
    return str(value)


def _one_image(value: Any, field: str) -> Any:
    """The single image of a record (None if none); a list of several is refused."""
    if isinstance(value, list):
        if len(value) > 1:
            raise Refused(
                field, f"{len(value)} images; a support sample holds one image (multi-image refused)"
            )
        return value[0] if value else None
    return value


def _place_image(turns: list[dict[str, str]], has_image: bool) -> list[dict[str, str]]:
    """Put `<image>` where the pool format wants it: once, in the first human turn."""
    count = sum(t["value"].count(IMAGE) for t in turns)
    if not has_image:
        if count:
            raise Refused(
                "image", f"the conversation has an {IMAGE} placeholder but the record names no image"
            )
        return turns
    if count > 1:
        raise Refused("conversations", f"{count} {IMAGE} placeholders for one image (multi-image refused)")
    if count == 1 and IMAGE not in turns[0]["value"]:
        raise Refused("conversations", f"the {IMAGE} placeholder is not in the first human turn")
    if count == 0:
        turns[0] = {**turns[0], "value": f"{IMAGE}\n{turns[0]['value']}"}
    return turns


def _turns(items: Any, field: str, role_key: str, text_key: str) -> list[dict[str, str]]:
    if not isinstance(items, list):
        raise Refused(field, f"expected a list of turns, got {type(items).__name__}")
    if len(items) < 2:
        raise Refused(field, f"{len(items)} turn(s); a conversation needs a question and an answer")
    out = []
    for i, turn in enumerate(items):
        where = f"{field}.{i}"
        if not isinstance(turn, dict):
            raise Refused(where, f"expected an object, got {type(turn).__name__}")
        role = turn.get(role_key)
        if role in ("system", "tool", "function"):
            raise Refused(f"{where}.{role_key}", f"a {role!r} turn has no place in a support conversation")
        if role not in _ROLES:
            raise Refused(f"{where}.{role_key}", f"unknown role {role!r} (expected one of {sorted(_ROLES)})")
        out.append({"from": _ROLES[role], "value": _text(turn.get(text_key), f"{where}.{text_key}")})
    for i, t in enumerate(out):
        expected = "human" if i % 2 == 0 else "gpt"
        if t["from"] != expected:
            raise Refused(f"{field}.{i}.{role_key}", "turns must alternate user/assistant from a user turn")
    if out[-1]["from"] != "gpt":
        raise Refused(field, "the last turn must be the assistant's")
    return out


def _text(content: Any, field: str) -> str:
    """A turn's text; a TRL list of parts becomes text with `<image>` where the image part was."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for j, part in enumerate(content):
            kind = part.get("type") if isinstance(part, dict) else None
            if kind == "text" and isinstance(part.get("text"), str):
                parts.append(part["text"])
            elif kind in ("image", "image_url"):
                parts.append(IMAGE)
            else:
                raise Refused(f"{field}.{j}", f"unsupported content part {str(part)[:60]!r}")
        return "\n".join(parts)
    raise Refused(field, f"expected text, got {type(content).__name__}")


def _pairs(texts: Any) -> Any:
    """The Cauldron's `[{user, assistant}]` exchanges as role/content turns (anything else is left for `_turns`
    to refuse by name)."""
    if not isinstance(texts, list) or not all(isinstance(t, dict) for t in texts):
        return texts
    out = []
    for t in texts:
        out += [
            {"role": "user", "content": t.get("user")},
            {"role": "assistant", "content": t.get("assistant")},
        ]
    return out


def support_fields(obj: dict[str, Any], default_id: str) -> tuple[dict[str, Any], Any]:
    """(fields of a SupportSample without its image ref, the image as the record names it or None)."""
    if "conversations" in obj:
        image = _one_image(obj.get("image", obj.get("images")), "image")
        turns = _turns(obj["conversations"], "conversations", "from", "value")
    elif "messages" in obj:
        image = _one_image(obj.get("images", obj.get("image")), "images")
        turns = _turns(obj["messages"], "messages", "role", "content")
    elif "texts" in obj:  # The Cauldron's Parquet: `images` and `texts: [{user, assistant, source}]`
        image = _one_image(obj.get("images"), "images")
        turns = _turns(_pairs(obj["texts"]), "texts", "role", "content")
    else:
        keys = ", ".join(sorted(map(str, obj))[:8])
        raise Refused(
            None, f"no 'conversations' (LLaVA), 'messages' (ms-swift/TRL) or 'texts' (Cauldron); keys: {keys}"
        )
    fields: dict[str, Any] = {
        "id": record_id(obj, default_id),
        "conversations": _place_image(turns, image is not None),
    }
    skills = obj.get("skills")
    if skills is not None:
        fields["skills"] = skills
    return fields, image
