"""Family relations as the party biography (lý lịch đảng viên) lists them."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

RELATIONS: dict[str, object] = {
    "paternal_grandfather": _l("Ông nội"),
    "paternal_grandmother": _l("Bà nội"),
    "maternal_grandfather": _l("Ông ngoại"),
    "maternal_grandmother": _l("Bà ngoại"),
    "spouse_paternal_grandfather": _l("Ông nội bên vợ/chồng"),
    "spouse_paternal_grandmother": _l("Bà nội bên vợ/chồng"),
    "spouse_maternal_grandfather": _l("Ông ngoại bên vợ/chồng"),
    "spouse_maternal_grandmother": _l("Bà ngoại bên vợ/chồng"),
    "father": _l("Cha"),
    "mother": _l("Mẹ"),
    "foster_parent": _l("Người nuôi dưỡng"),
    "father_in_law": _l("Cha vợ/chồng"),
    "mother_in_law": _l("Mẹ vợ/chồng"),
    "spouse": _l("Vợ/chồng"),
    "sibling": _l("Anh, chị, em ruột"),
    "spouse_sibling": _l("Anh, chị, em ruột của vợ/chồng"),
    "child": _l("Con"),
}

SEXES: dict[str, object] = {"male": _l("Nam"), "female": _l("Nữ")}


def relation_label(code: str | None) -> str:
    return str(RELATIONS.get(code or "", code or "—"))


def sex_label(code: str | None) -> str:
    return str(SEXES.get(code or "", "—"))
