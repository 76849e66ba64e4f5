"""The types of document a person's dossier holds (mục lục văn bản, column "Loại"), as the
party's dossier work names them. Codes are stored (plain: a type says what kind of paper
it is, not what it says about the person); labels are shown."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

DOCUMENT_TYPES: dict[str, object] = {
    "party_biography": _l("Lý lịch đảng viên"),
    "decision": _l("Quyết định"),
    "assessment": _l("Nhận xét, đánh giá"),
    "self_criticism": _l("Bản tự kiểm điểm"),
    "application": _l("Đơn"),
    "minutes": _l("Biên bản"),
    "official_letter": _l("Công văn"),
    "report": _l("Báo cáo"),
    "certificate": _l("Giấy chứng nhận"),
    "other": _l("Khác"),
}


def document_type_label(code: str | None) -> str:
    return str(DOCUMENT_TYPES.get(code or "", code or "—"))


def document_type_choices() -> list[tuple[str, str]]:
    return [(code, str(label)) for code, label in DOCUMENT_TYPES.items()]
