"""The schema's shared rules: versions checked by name, a scheme always a dict."""

import pytest

from sw.spec import schema


def test_check_version_names_the_key():
    schema.check_version({"schema_version": 1}, 1, "report.json")
    with pytest.raises(schema.SchemaError,
                       match=r"schema_version: report.json has 2, this toolkit reads 1"):
        schema.check_version({"schema_version": 2}, 1, "report.json")
    with pytest.raises(schema.SchemaError, match="has None"):
        schema.check_version({"fmax_mhz": 100.0}, 1, "report.json")
    with pytest.raises(schema.SchemaError, match="has None"):
        schema.check_version([], 1, "report.json")


def test_scheme_is_always_a_dict_with_a_name():
    full = {"name": "int4-qat", "weight_bits": 4}
    assert schema.scheme(full) is full
    assert schema.scheme("random") == {"name": "random"}
    for bad in ({"weight_bits": 4}, 4, None):
        with pytest.raises(schema.SchemaError, match="scheme: expected a dict with a name"):
            schema.scheme(bad)
