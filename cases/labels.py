"""Vietnamese labels for the plain codes of case work (states, kinds, purposes, outcomes,
events ...). Codes stay English in the database and the audit trail; people read these.

Templates reach them through the `labels` object a context processor of the cases
blueprint provides: ``labels.state(case)``, ``labels.of(labels.OUTCOMES, code)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from flask_babel import get_translations
from flask_babel import lazy_gettext as _l

from protection.identity import CLEARANCE_LABELS

KINDS = {
    "review": _l("Thẩm định tiêu chuẩn chính trị"),
    "petition": _l("Đơn thư"),
}
# A kind is never named like a step: "Thẩm định" alone is also the fourth step of a review,
# and a card read "Thẩm định [Thẩm định]" (issue 17).
KINDS_SHORT = {
    "review": _l("Thẩm định chính trị"),
    "petition": _l("Đơn thư"),
}

CASE_STATES = {
    "records_review": _l("Rà soát"),
    "examination": _l("Thẩm tra"),
    "verification": _l("Xác minh"),
    "appraisal": _l("Thẩm định, đánh giá"),
    "concluding": _l("Kết luận"),
    "submitted": _l("Chờ phê duyệt"),
    "closed": _l("Đã kết thúc"),
    "received": _l("Mới tiếp nhận"),
    "accepted": _l("Đang giải quyết"),
    "forwarded": _l("Đã chuyển"),
    "monitoring": _l("Lưu theo dõi"),
    "filed": _l("Lưu đơn"),
}

REQUEST_STATES = {
    "sent": _l("Đã gửi"),
    "acknowledged": _l("Đã nhận"),
    "answered": _l("Đã trả lời"),
    "accepted": _l("Đã chấp nhận"),
    "more_requested": _l("Yêu cầu bổ sung"),
    "withdrawn": _l("Đã rút"),
}

CONCLUSION_STATES = {
    "draft": _l("Dự thảo"),
    "submitted": _l("Chờ phê duyệt"),
    "returned": _l("Trả lại"),
    "approved": _l("Đã phê duyệt"),
}

PURPOSES = {
    "party_admission": _l("Kết nạp Đảng"),
    "cadre_planning": _l("Quy hoạch cán bộ"),
    "appointment": _l("Bổ nhiệm"),
    "election": _l("Bầu cử / nhân sự đại hội"),
    "abroad": _l("Học tập / công tác nước ngoài"),
    "other": _l("Khác"),
}

CAMPAIGN_PURPOSES = {
    "congress": _l("Nhân sự đại hội"),
    "planning": _l("Quy hoạch cán bộ"),
    "appointment": _l("Bổ nhiệm, giới thiệu ứng cử"),
    "admission": _l("Kết nạp Đảng"),
}

CAMPAIGN_STATES = {
    "open": _l("Đang thực hiện"),
    "closed": _l("Đã kết thúc"),
}

# A nominee's state on the campaign board: where their answer stands.
NOMINEE_STATES = {
    "not_started": _l("Chưa thẩm định"),
    "reused": _l("Dùng lại kết luận còn hiệu lực"),
    "in_review": _l("Đang thẩm định"),
    "submitted": _l("Chờ phê duyệt"),
    "concluded": _l("Đã kết luận"),
}

OUTCOMES = {
    "no_issue": _l("Không có vấn đề chính trị"),
    "issue_not_affecting": _l("Có vấn đề chính trị nhưng không ảnh hưởng tiêu chuẩn"),
    "not_meeting_standard": _l("Không đủ tiêu chuẩn chính trị"),
    "not_concluded": _l("Chưa kết luận"),
}

ELIGIBILITY = {
    "yes": _l("Đủ điều kiện kết nạp"),
    "no": _l("Không đủ điều kiện kết nạp"),
}

PETITION_TYPES = {
    "complaint": _l("Khiếu nại"),
    "denunciation": _l("Tố cáo"),
    "reflection": _l("Phản ánh"),
    "recommendation": _l("Kiến nghị"),
}

# The release of a petitioner's identity (issue 23).
IDENTITY_RELEASE_STATES = {
    "asked": _l("Chờ phê duyệt"),
    "released": _l("Đã mở"),
    "refused": _l("Bị từ chối"),
    "withdrawn": _l("Đã rút"),
    "expired": _l("Hết hạn"),
}

CHANNELS = {
    "post": _l("Qua bưu điện"),
    "in_person": _l("Trực tiếp"),
    "forwarded": _l("Cơ quan khác chuyển đến"),
    "electronic": _l("Điện tử"),
}

DECISIONS = {
    "accept": _l("Thụ lý giải quyết"),
    "forward": _l("Chuyển cơ quan có thẩm quyền"),
    "keep_for_monitoring": _l("Lưu theo dõi"),
    "file": _l("Lưu đơn không xử lý"),
}

FILING_REASONS = {
    "anonymous_or_false_name": _l("Đơn nặc danh, mạo danh"),
    "repeat_without_new_evidence": _l("Đơn trùng, không có nội dung mới"),
    "vague_content": _l("Nội dung không rõ ràng"),
    "unsigned_copy": _l("Bản sao không có chữ ký"),
    "outside_jurisdiction": _l("Không thuộc thẩm quyền"),
}

FINDING_CATEGORIES = {
    "political_history": _l("Lịch sử chính trị"),
    "current_political_issue": _l("Chính trị hiện nay"),
    "other": _l("Khác"),
}

# The plain step actions offered as buttons on the case page (the conclusion and the
# petition decision have forms of their own).
STEP_ACTIONS = {
    "start_examination": _l("Chuyển sang thẩm tra"),
    "start_verification": _l("Chuyển sang xác minh"),
    "start_appraisal": _l("Chuyển sang thẩm định"),
    "start_conclusion": _l("Chuyển sang kết luận"),
    "start_correction": _l("Đính chính kết luận"),
}

EVENTS = {
    "opened": _l("Mở hồ sơ thẩm định"),
    "received": _l("Tiếp nhận đơn"),
    "start_examination": _l("Chuyển sang thẩm tra"),
    "start_verification": _l("Chuyển sang xác minh"),
    "start_appraisal": _l("Chuyển sang thẩm định"),
    "start_conclusion": _l("Chuyển sang kết luận"),
    "submit_conclusion": _l("Trình kết luận"),
    "return_conclusion": _l("Trả lại kết luận"),
    "approve_conclusion": _l("Phê duyệt kết luận"),
    "start_correction": _l("Mở đính chính kết luận"),
    "accept": _l("Thụ lý giải quyết"),
    "forward": _l("Chuyển đơn"),
    "keep_for_monitoring": _l("Lưu theo dõi"),
    "file": _l("Lưu đơn không xử lý"),
    "assigned": _l("Phân công cán bộ"),
    "unassigned": _l("Thôi phân công cán bộ"),
    "commented": _l("Thêm ý kiến"),
    "attachment_added": _l("Thêm tệp đính kèm"),
    "finding_added": _l("Ghi nhận nội dung"),
    "conclusion_saved": _l("Lưu dự thảo kết luận"),
    "deadline_extended": _l("Gia hạn giải quyết"),
    "due_changed": _l("Đổi hạn xử lý"),
    "request_sent": _l("Gửi yêu cầu xác minh"),
    "request_acknowledge": _l("Cơ quan phối hợp xác nhận đã nhận"),
    "request_answer": _l("Cơ quan phối hợp trả lời"),
    "request_accept_answer": _l("Chấp nhận trả lời"),
    "request_request_more": _l("Yêu cầu bổ sung"),
    "request_withdraw": _l("Rút yêu cầu"),
}


def translated(mapping: dict) -> Mapping[str, str]:
    """The mapping with each label translated (for a loop over many rows), read-only.

    The labels are fixed and so is each language's catalog: a translation is worked out once
    per mapping and catalog in a process, not on every page (12 labels cost ~0.1 ms)."""
    catalog = get_translations()
    if id(mapping) not in _FIXED:  # someone else's mapping: it may change, or be a temporary
        return _translate_all(mapping)
    key = (id(mapping), id(catalog))
    hit = _translated.get(key)
    if hit is None:
        # The entry holds the catalog, so its id is never reused while the entry lives; the
        # fixed mappings live as long as this module.
        hit = _translated[key] = (catalog, _translate_all(mapping))
    return hit[1]


def _translate_all(mapping: dict) -> Mapping[str, str]:
    """Codes as plain strings (an enum's value), labels translated in the request's language."""
    return MappingProxyType({getattr(code, "value", code): str(label) for code, label in mapping.items()})


_translated: dict[tuple[int, int], tuple[object, Mapping[str, str]]] = {}


def translated_levels() -> Mapping[str, str]:
    return translated(CLEARANCE_LABELS)


def of(mapping: dict, code) -> str:
    """The label of `code` in `mapping`; the code itself when unknown, "—" when empty."""
    if code is None or code == "":
        return "—"
    return str(mapping.get(code, code))


def state(code: str | None) -> str:
    return of(CASE_STATES, code)


def kind(code: str | None) -> str:
    return of(KINDS_SHORT, code)


def event(code: str | None) -> str:
    return of(EVENTS, code)


def choices(mapping: dict) -> list[tuple[str, object]]:
    return list(mapping.items())


# The mappings `translated` may keep the translations of: this module's own, which never change.
_FIXED = frozenset(id(value) for value in list(globals().values()) + [CLEARANCE_LABELS] if isinstance(value, dict))
