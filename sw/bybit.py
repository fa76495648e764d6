"""Bybit v5 kline client (to be completed: paging, retries, cache)."""


class BybitError(RuntimeError):
    """The API answered something that cannot be used; the message says what and where."""


def parse_response(body, where: str = "response") -> list:
    """Validate a v5 kline envelope; return its rows oldest first as
    ``(start_ms, open, high, low, close, volume)`` (strings but ``start_ms``)."""
    if not isinstance(body, dict):
        raise BybitError(f"{where}: expected a JSON object")
    if body.get("retCode") != 0:
        raise BybitError(f"{where}: retCode {body.get('retCode')!r}: {body.get('retMsg')!r}")
    result = body.get("result")
    rows = result.get("list") if isinstance(result, dict) else None
    if not isinstance(rows, list):
        raise BybitError(f"{where}: result.list is missing")
    out = []
    for n, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != 7:
            raise BybitError(f"{where}: result.list[{n}] has "
                             f"{len(row) if isinstance(row, list) else 'no'} fields, expected 7")
        out.append((int(row[0]), *row[1:6]))
    return out[::-1]
