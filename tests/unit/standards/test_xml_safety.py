"""Partner XML is parsed without DTDs or entities, and a broken document says where it broke."""

from __future__ import annotations

import pytest

from services.standards import xmltree
from services.standards.errors import StandardsError
from tests.unit.standards.conftest import fixture_xml


def test_a_billion_laughs_document_is_refused_before_any_expansion() -> None:
    with pytest.raises(StandardsError) as info:
        xmltree.parse(fixture_xml("cap_billion_laughs.xml"), root_label="alert")
    assert info.value.problem == "malformed"
    assert "DOCTYPE is not allowed" in info.value.rule
    assert info.value.line == 2


def test_an_external_entity_is_refused() -> None:
    doc = (
        b'<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY x SYSTEM "file:///etc/passwd">]>\n<a>&x;</a>'
    )
    with pytest.raises(StandardsError, match="DOCTYPE is not allowed"):
        xmltree.parse(doc, root_label="a")


def test_a_document_that_is_not_well_formed_names_the_line() -> None:
    with pytest.raises(StandardsError) as info:
        xmltree.parse(b"<alert>\n  <sender>x</sender>\n  <sent>\n</alert>", root_label="alert")
    assert info.value.problem == "malformed"
    assert info.value.line == 4
    assert "not well-formed" in info.value.rule


def test_an_oversized_document_is_refused_unparsed() -> None:
    doc = b"<a>" + b"x" * xmltree.MAX_DOCUMENT_BYTES + b"</a>"
    with pytest.raises(StandardsError, match="at most"):
        xmltree.parse(doc, root_label="a")


def test_elements_keep_namespace_text_and_line() -> None:
    root = xmltree.parse('<a xmlns="urn:x">\n <b> hi </b>\n</a>', root_label="a")
    [b] = root.children
    assert (root.ns, root.name, b.name, b.text, b.line) == ("urn:x", "a", "b", "hi", 2)
