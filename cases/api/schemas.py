"""What the partner API reads and answers, as marshmallow schemas: the OpenAPI 3.1 document
is generated from them (flask-smorest), and the input schemas check every call.

Input schemas refuse unknown fields (`unknown = RAISE`) and say why in Vietnamese; the
messages name the rule, never the value sent (it may be a protected value and comes back in
a problem document). Output schemas are documentation and serialisers at once, so the
schemathesis contract test holds the answers to exactly what is documented.
"""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_smorest.fields import Upload
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from werkzeug.datastructures import FileStorage

from cases import labels, workflow
from protection.identity import CLEARANCE_ORDER

REQUEST_STATES = tuple(labels.REQUEST_STATES)
CLASSIFICATIONS = tuple(level.value for level in CLEARANCE_ORDER)
# The longest texts the liaison's forms take (cases/coordination/forms.py), the same here.
MAX_FINDING_TEXT = 10000
MAX_SOURCE = 500
MAX_ANSWER = 20000
MAX_PERSON_KEY = 64

REQUIRED = _l("Trường này là bắt buộc.")
NOT_NULL = _l("Trường này không được để trống (null).")
NOT_TEXT = _l("Phải là một chuỗi ký tự.")
NOT_INTEGER = _l("Phải là một số nguyên.")
NOT_DATE = _l("Phải là một ngày theo dạng YYYY-MM-DD.")
NOT_FILE = _l("Phải là một tệp gửi trong multipart/form-data.")
NOT_CHOICE = _l("Giá trị không thuộc danh sách được phép.")
TOO_LONG = _l("Dài quá số ký tự cho phép ({max}).")
EMPTY = _l("Không được để trống.")
OUT_OF_RANGE = _l("Phải là một số từ {min} trở lên.")


def _messages(**extra) -> dict:
    return {"required": REQUIRED, "null": NOT_NULL, **extra}


def text_field(*, required: bool = False, max_length: int, allow_empty: bool = True, **kwargs) -> fields.String:
    checks = [validate.Length(max=max_length, error=TOO_LONG)]
    if not allow_empty:
        checks.insert(0, validate.Length(min=1, error=EMPTY))
    return fields.String(required=required, validate=checks, error_messages=_messages(invalid=NOT_TEXT), **kwargs)


def choice_field(values: tuple[str, ...], *, required: bool = False, **kwargs) -> fields.String:
    return fields.String(required=required, validate=validate.OneOf(values, error=NOT_CHOICE),
                         error_messages=_messages(invalid=NOT_TEXT), **kwargs)


class FileUpload(Upload):
    """A file part of a multipart body (a text part of the same name is refused)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, FileStorage):
            raise ValidationError(NOT_FILE)
        return value


class InputSchema(Schema):
    """A request's input: unknown fields refused, messages in Vietnamese."""

    error_messages = {"unknown": _l("Trường này không được nhận."),
                      "type": _l("Dữ liệu phải là một đối tượng JSON.")}

    class Meta:
        unknown = RAISE


# --- input ------------------------------------------------------------------------------

class RequestListQuery(InputSchema):
    state = choice_field(REQUEST_STATES, metadata={"description": "Chỉ các yêu cầu ở trạng thái này."})
    page = fields.Integer(load_default=1, strict=False, validate=validate.Range(min=1, error=OUT_OF_RANGE),
                          error_messages=_messages(invalid=NOT_INTEGER),
                          metadata={"description": "Trang cần đọc, từ 1."})
    per_page = fields.Integer(strict=False, validate=validate.Range(min=1, error=OUT_OF_RANGE),
                              error_messages=_messages(invalid=NOT_INTEGER),
                              metadata={"description": "Số yêu cầu mỗi trang; không quá HOSO_API_PAGE_SIZE "
                                                       "(mặc định 50)."})


class FindingInput(InputSchema):
    person = text_field(max_length=MAX_PERSON_KEY, metadata={
        "description": "Người được ghi nhận: một `key` trong `people` của yêu cầu (\"subject\" hoặc mã "
                       "người thân được chia sẻ). Mặc định \"subject\"; bỏ qua với đơn thư."})
    category = choice_field(workflow.FINDING_CATEGORIES, required=True, metadata={"description": "Loại nội dung."})
    text = text_field(required=True, max_length=MAX_FINDING_TEXT, allow_empty=False,
                metadata={"description": "Nội dung xác minh được."})
    classification = choice_field(CLASSIFICATIONS, required=True, metadata={
        "description": "Độ mật; không cao hơn độ mật của hồ sơ và của tài khoản."})
    source = text_field(max_length=MAX_SOURCE, allow_none=True, metadata={"description": "Nguồn."})
    found_on = fields.Date(allow_none=True, error_messages=_messages(invalid=NOT_DATE),
                           metadata={"description": "Ngày ghi nhận (không ở tương lai)."})


class AnswerInput(InputSchema):
    answer = text_field(required=True, max_length=MAX_ANSWER, allow_empty=False,
                  metadata={"description": "Nội dung trả lời."})


class FileInput(InputSchema):
    file = FileUpload(required=True, error_messages=_messages(invalid=NOT_FILE),
                  metadata={"description": "PDF, JPEG, PNG, TIFF, DOCX hoặc ODT (kiểm tra theo nội dung tệp); "
                                           "không quá HOSO_MAX_UPLOAD_MB."})
    classification = choice_field(CLASSIFICATIONS, required=True, metadata={
        "description": "Độ mật của tệp; không cao hơn độ mật của hồ sơ và của tài khoản."})


# --- output -----------------------------------------------------------------------------

class Labelled(Schema):
    """A field shared with the body: its code, its label and its value as the body reads it."""

    field = fields.String(required=True)
    label = fields.String(required=True)
    value = fields.String(required=True)


class RelativeOut(Schema):
    key = fields.String(required=True, metadata={"description": "Khóa của người này trong `people`."})
    label = fields.String(required=True)
    fields_ = fields.List(fields.Nested(Labelled), required=True, data_key="fields", attribute="fields")


class PersonOut(Schema):
    key = fields.String(required=True)
    label = fields.String(required=True)


class FindingOut(Schema):
    id = fields.UUID(required=True)
    person = fields.String(required=True, allow_none=True,
                           metadata={"description": "Khóa người được ghi nhận, nếu người đó được chia sẻ."})
    about = fields.String(required=True, allow_none=True)
    category = fields.String(required=True)
    category_label = fields.String(required=True)
    text = fields.String(required=True)
    classification = fields.String(required=True)
    source = fields.String(required=True, allow_none=True)
    found_on = fields.Date(required=True, allow_none=True)
    created_at = fields.DateTime(required=True)


class FileOut(Schema):
    id = fields.UUID(required=True)
    name = fields.String(required=True)
    size = fields.Integer(required=True)
    media_type = fields.String(required=True)
    classification = fields.String(required=True)
    href = fields.String(required=True, metadata={"description": "Đường dẫn tải tệp."})


class RequestSummaryOut(Schema):
    id = fields.UUID(required=True)
    reference = fields.String(required=True)
    classification = fields.String(required=True)
    state = fields.String(required=True)
    state_label = fields.String(required=True)
    version = fields.Integer(required=True, metadata={"description": "Phiên bản; ETag của yêu cầu là \"<version>\"."})
    sent_on = fields.Date(required=True)
    due_on = fields.Date(required=True)
    overdue = fields.Boolean(required=True)
    acknowledged_at = fields.DateTime(required=True, allow_none=True)
    answered_at = fields.DateTime(required=True, allow_none=True)


class RequestOut(RequestSummaryOut):
    questions = fields.String(required=True)
    follow_up = fields.String(required=True, allow_none=True)
    answer = fields.String(required=True, allow_none=True)
    subject_fields = fields.List(fields.Nested(Labelled), required=True)
    relatives = fields.List(fields.Nested(RelativeOut), required=True)
    people = fields.List(fields.Nested(PersonOut), required=True, metadata={
        "description": "Những người mà kết quả xác minh được ghi về (trường `person`)."})
    shared_findings = fields.List(fields.Nested(FindingOut), required=True)
    shared_files = fields.List(fields.Nested(FileOut), required=True)
    findings = fields.List(fields.Nested(FindingOut), required=True,
                           metadata={"description": "Kết quả xác minh đơn vị đã ghi cho yêu cầu này."})
    files = fields.List(fields.Nested(FileOut), required=True,
                        metadata={"description": "Tệp đơn vị đã gửi kèm trả lời."})


class RequestPageOut(Schema):
    items = fields.List(fields.Nested(RequestSummaryOut), required=True)
    page = fields.Integer(required=True)
    per_page = fields.Integer(required=True)
    total = fields.Integer(required=True)
    pages = fields.Integer(required=True)


class ProblemOut(Schema):
    """RFC 9457 problem details (protection/problems.py)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String()
    instance = fields.String()
    request_id = fields.String(metadata={"description": "Mã tham chiếu trong nhật ký máy chủ."})
    errors = fields.Dict(keys=fields.String(), values=fields.List(fields.String()),
                         metadata={"description": "Lỗi theo từng trường: {trường: [thông báo]}."})
