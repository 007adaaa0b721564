"""No reporter prints a secret input, whatever else it shows about the resource."""

from __future__ import annotations

import pytest
from google.protobuf import struct_pb2

from crossgate import wire
from crossgate.model import GateResult, PlannedResource, SourceLocation
from crossgate.report import FORMATS, formatter

from report_data import SECRET, TYPE, urn


@pytest.mark.parametrize("fmt", FORMATS)
def test_secret_input_appears_in_no_report(fmt: str, sample: GateResult) -> None:
    props = struct_pb2.Struct()
    props.update({"adminPassword": wire.make_secret(SECRET), "nested": {"token": wire.make_secret(SECRET)}})
    sample.resources.append(PlannedResource(urn=urn(TYPE, "vault"), type=TYPE, name="vault", custom=True,
                                            properties=props, source=SourceLocation("__main__.py", 50)))
    assert SECRET in str(sample.resources[-1].inputs)  # the value is really there to leak
    assert SECRET not in formatter(fmt)(sample)
