"""The trail in the interface language: a label for every action code the application
records, and the result of a verification in words.

The codes stay English and stable (they are hashed into the chain, filtered on, exported);
only what the auditor reads is translated. tests/test_audit_labels.py walks the code for
every action recorded and fails on one missing here; a code not in the table (an older
installation's, a test's) is shown as it is.
"""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from protection.identity import Role

from .verify import Report

ACTION_LABELS: dict[str, Any] = {
    # Signing in and accounts
    "auth.password_ok": _l("Đúng mật khẩu (chưa hoàn tất đăng nhập)"),
    "auth.login.succeeded": _l("Đăng nhập"),
    "auth.login.failed": _l("Đăng nhập thất bại"),
    "auth.lockout": _l("Tạm khóa tài khoản do nhập sai nhiều lần"),
    "auth.logout": _l("Đăng xuất"),
    "auth.session.end": _l("Kết thúc phiên làm việc"),
    "auth.second_factor.enrolled": _l("Kích hoạt xác thực hai lớp"),
    "auth.second_factor.failed": _l("Sai mã xác thực hai lớp"),
    "auth.second_factor.reset": _l("Đặt lại xác thực hai lớp"),
    "auth.password.changed": _l("Đổi mật khẩu"),
    "auth.password.reset": _l("Đặt lại mật khẩu cho người dùng"),
    "user.list": _l("Xem danh sách người dùng"),
    "user.view": _l("Xem tài khoản người dùng"),
    "user.created": _l("Tạo tài khoản"),
    "user.updated": _l("Sửa tài khoản"),
    "user.enabled": _l("Mở lại tài khoản"),
    "user.disabled": _l("Vô hiệu hóa tài khoản"),
    "user.language": _l("Đổi ngôn ngữ giao diện"),
    "unit.created": _l("Tạo đơn vị"),
    "access.denied": _l("Bị từ chối truy cập"),
    # Dossiers of people under review
    "subject.search": _l("Tìm đối tượng thẩm định"),
    "subject.view": _l("Xem hồ sơ đối tượng"),
    "subject.create": _l("Tạo hồ sơ đối tượng"),
    "subject.update": _l("Sửa hồ sơ đối tượng"),
    "subject.import": _l("Nhập hồ sơ đối tượng từ tệp"),
    "subject.export": _l("Xuất hồ sơ đối tượng"),
    "relative.view": _l("Xem thông tin thân nhân"),
    "relative.create": _l("Thêm thân nhân"),
    "relative.update": _l("Sửa thông tin thân nhân"),
    "relative.delete": _l("Xóa thân nhân"),
    # Cases
    "case.list": _l("Xem danh sách hồ sơ"),
    "case.view": _l("Xem hồ sơ"),
    "case.create": _l("Mở hồ sơ"),
    "case.assign": _l("Phân công cán bộ"),
    "case.unassign": _l("Thôi phân công cán bộ"),
    "case.transition": _l("Chuyển bước hồ sơ"),
    "case.comment": _l("Thêm ý kiến trao đổi"),
    "case.extend": _l("Gia hạn hồ sơ"),
    "case.due_change": _l("Đổi hạn giải quyết"),
    "case.break_glass": _l("Mở hồ sơ khẩn cấp"),
    "case.archive": _l("Chuyển hồ sơ vào lưu trữ"),
    "case.purge": _l("Hủy nội dung hồ sơ hết thời hạn lưu trữ"),
    "finding.create": _l("Ghi kết quả xác minh"),
    "attachment.upload": _l("Tải lên tệp đính kèm"),
    "attachment.download": _l("Tải xuống tệp đính kèm"),
    "petition.petitioner_view": _l("Xem thông tin người gửi đơn"),
    "conclusion.create": _l("Soạn dự thảo kết luận"),
    "conclusion.update": _l("Sửa dự thảo kết luận"),
    "conclusion.approve": _l("Phê duyệt kết luận"),
    "conclusion.print": _l("In kết luận"),
    "print_register.view": _l("Xem sổ theo dõi bản in"),
    "classification.review": _l("Rà soát độ mật"),
    "break_glass.list": _l("Xem danh sách truy cập khẩn cấp"),
    "break_glass.review": _l("Đánh giá lượt truy cập khẩn cấp"),
    # Coordination with partner bodies
    "coordination.list": _l("Xem danh sách yêu cầu phối hợp"),
    "coordination.view": _l("Xem yêu cầu phối hợp"),
    "coordination.send": _l("Gửi yêu cầu phối hợp"),
    "coordination.transition": _l("Chuyển bước yêu cầu phối hợp"),
    # Reports, the trail itself, backups and keys
    "report.view": _l("Xem báo cáo thống kê"),
    "report.export": _l("Xuất báo cáo thống kê"),
    "audit.search": _l("Tra cứu nhật ký kiểm toán"),
    "audit.export": _l("Xuất nhật ký kiểm toán"),
    "audit.verify": _l("Kiểm tra toàn vẹn nhật ký"),
    "backup.create": _l("Tạo bản sao lưu"),
    "backup.restore": _l("Khôi phục từ bản sao lưu"),
    "keys.rotate_master.start": _l("Bắt đầu thay khóa chủ"),
    "keys.rotate_master.batch": _l("Thay khóa chủ (một đợt)"),
    "keys.rekey.start": _l("Bắt đầu mã hóa lại khóa dữ liệu"),
    "keys.rekey.batch": _l("Mã hóa lại khóa dữ liệu (một đợt)"),
    "keys.reindex.start": _l("Bắt đầu dựng lại chỉ mục tìm kiếm"),
    "keys.reindex.batch": _l("Dựng lại chỉ mục tìm kiếm (một đợt)"),
    "keys.reindex.finish": _l("Hoàn tất dựng lại chỉ mục tìm kiếm"),
}

def action_label(code: str) -> Any:
    """The action in the interface language; an unknown code as it is."""
    return ACTION_LABELS.get(code, code)


def role_label(code: str | None) -> Any:
    """An actor's role as recorded (a code) in the interface language."""
    try:
        return Role(code).label
    except ValueError:
        return code


# What each kind of tampering is called (audit/verify.py's Problem.kind).
PROBLEM_LABELS: dict[str, Any] = {
    "altered": _l("bản ghi bị sửa"),
    "inserted": _l("bản ghi bị chèn thêm ngoài ứng dụng"),
    "missing": _l("thiếu bản ghi"),
    "reordered": _l("bản ghi bị đảo thứ tự"),
    "truncated": _l("nhật ký bị cắt bớt phần cuối"),
    "bad_checkpoint": _l("điểm ký không hợp lệ"),
}


def verification_summary(report: Report) -> str:
    """The web page's words for a verification (the CLI prints Report.summary())."""
    if report.problem is not None:
        return _("Phát hiện sai lệch tại bản ghi #%(seq)d: %(problem)s.", seq=report.problem.seq,
                 problem=PROBLEM_LABELS.get(report.problem.kind, report.problem.kind))
    if report.last_checkpoint_seq is None:
        return _("Toàn vẹn: đã kiểm tra %(n)d bản ghi (bản ghi cuối #%(last)d); chưa có điểm ký nào.",
                 n=report.entries_checked, last=report.last_seq or 0)
    return _("Toàn vẹn: đã kiểm tra %(n)d bản ghi (bản ghi cuối #%(last)d) và %(checkpoints)d điểm ký "
             "(điểm ký cuối tại bản ghi #%(checkpoint)d).", n=report.entries_checked, last=report.last_seq or 0,
             checkpoints=report.checkpoints_checked, checkpoint=report.last_checkpoint_seq)
