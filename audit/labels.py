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
from flask_babel import lazy_pgettext

from protection.identity import Role

from .verify import Report

ACTION_LABELS: dict[str, Any] = {
    # Signing in and accounts
    "auth.password_ok": lazy_pgettext("audit action", "Đúng mật khẩu (chưa hoàn tất đăng nhập)"),
    "auth.signed_in": lazy_pgettext("audit action", "Đăng nhập"),
    "auth.recheck.failed": lazy_pgettext("audit action", "Xác nhận lại mật khẩu hoặc mã không thành công"),
    "auth.login.failed": lazy_pgettext("audit action", "Đăng nhập thất bại"),
    "auth.lockout": lazy_pgettext("audit action", "Tạm khóa tài khoản do nhập sai nhiều lần"),
    "auth.logout": lazy_pgettext("audit action", "Đăng xuất"),
    "auth.session.end": lazy_pgettext("audit action", "Kết thúc phiên làm việc"),
    "auth.second_factor.enrolled": lazy_pgettext("audit action", "Kích hoạt xác thực hai lớp"),
    "auth.second_factor.failed": lazy_pgettext("audit action", "Sai mã xác thực hai lớp"),
    "auth.second_factor.reset": lazy_pgettext("audit action", "Đặt lại xác thực hai lớp"),
    "auth.security_key.registered": lazy_pgettext("audit action", "Đăng ký khóa bảo mật"),
    "auth.security_key.removed": lazy_pgettext("audit action", "Gỡ khóa bảo mật"),
    "auth.security_key.reset": lazy_pgettext("audit action", "Gỡ mọi khóa bảo mật của người dùng"),
    "auth.security_key.used": lazy_pgettext("audit action", "Xác nhận bằng khóa bảo mật"),
    "auth.password.changed": lazy_pgettext("audit action", "Đổi mật khẩu"),
    "auth.password.reset": lazy_pgettext("audit action", "Đặt lại mật khẩu cho người dùng"),
    "user.list": lazy_pgettext("audit action", "Xem danh sách người dùng"),
    "user.view": lazy_pgettext("audit action", "Xem tài khoản người dùng"),
    "user.created": lazy_pgettext("audit action", "Tạo tài khoản"),
    "user.updated": lazy_pgettext("audit action", "Sửa tài khoản"),
    "user.enabled": lazy_pgettext("audit action", "Mở lại tài khoản"),
    "user.disabled": lazy_pgettext("audit action", "Vô hiệu hóa tài khoản"),
    # API clients of partner bodies (issue 21 §A.1)
    "api_client.create": lazy_pgettext("audit action", "Đăng ký máy khách API"),
    "api_client.rotate": lazy_pgettext("audit action", "Cấp mã truy cập API mới (đổi mã)"),
    "api_client.revoke": lazy_pgettext("audit action", "Thu hồi máy khách API"),
    "api_client.refused": lazy_pgettext("audit action", "Từ chối mã truy cập API"),
    "api_client.list": lazy_pgettext("audit action", "Xem danh sách máy khách API"),
    "directory_request.created": lazy_pgettext("audit action", "Người dùng thư mục xin tài khoản (lần đăng nhập đầu)"),
    "directory_request.confirmed": lazy_pgettext("audit action", "Xác nhận người dùng thư mục"),
    "directory_request.refused": lazy_pgettext("audit action", "Từ chối người dùng thư mục"),
    "directory_request.list": lazy_pgettext("audit action", "Xem danh sách người dùng thư mục chờ xác nhận"),
    "directory_request.view": lazy_pgettext("audit action", "Xem yêu cầu của người dùng thư mục"),
    "user.language": lazy_pgettext("audit action", "Đổi ngôn ngữ giao diện"),
    "notifications.read": lazy_pgettext("audit action", "Đánh dấu thông báo đã đọc"),
    "notifications.preferences": lazy_pgettext("audit action", "Đổi cách nhận thông báo"),
    "notifications.mail_address": lazy_pgettext("audit action", "Đổi địa chỉ thư nhận thông báo"),
    "unit.created": lazy_pgettext("audit action", "Tạo đơn vị"),
    "access.denied": lazy_pgettext("audit action", "Bị từ chối truy cập"),
    # Dossiers of people under review
    "subject.search": lazy_pgettext("audit action", "Tìm đối tượng thẩm định"),
    "subject.view": lazy_pgettext("audit action", "Xem hồ sơ đối tượng"),
    "subject.create": lazy_pgettext("audit action", "Tạo hồ sơ đối tượng"),
    "subject.update": lazy_pgettext("audit action", "Sửa hồ sơ đối tượng"),
    "subject.import": lazy_pgettext("audit action", "Nhập hồ sơ đối tượng từ tệp"),
    "subject.export": lazy_pgettext("audit action", "Xuất hồ sơ đối tượng"),
    "relative.view": lazy_pgettext("audit action", "Xem thông tin thân nhân"),
    "relative.create": lazy_pgettext("audit action", "Thêm thân nhân"),
    "relative.update": lazy_pgettext("audit action", "Sửa thông tin thân nhân"),
    "relative.delete": lazy_pgettext("audit action", "Xóa thân nhân"),
    # The archive register of a dossier (issue 24 B)
    "archive.register.view": lazy_pgettext("audit action", "Xem mục lục văn bản của hồ sơ"),
    "archive.register.print": lazy_pgettext("audit action", "In mục lục văn bản của hồ sơ"),
    "archive.document.view": lazy_pgettext("audit action", "Xem văn bản trong mục lục"),
    "archive.document.add": lazy_pgettext("audit action", "Thêm văn bản vào mục lục"),
    "archive.document.update": lazy_pgettext("audit action", "Sửa văn bản trong mục lục"),
    "archive.document.move": lazy_pgettext("audit action", "Đổi thứ tự văn bản trong mục lục"),
    "archive.document.remove": lazy_pgettext("audit action", "Xóa văn bản khỏi mục lục"),
    "archive.scan.add": lazy_pgettext("audit action", "Lưu bản quét văn bản"),
    "archive.scan.download": lazy_pgettext("audit action", "Tải về bản quét văn bản"),
    "archive.import": lazy_pgettext("audit action", "Số hóa hàng loạt hồ sơ giấy"),
    # Cases
    "case.list": lazy_pgettext("audit action", "Xem danh sách hồ sơ"),
    "case.view": lazy_pgettext("audit action", "Xem hồ sơ"),
    "case.create": lazy_pgettext("audit action", "Mở hồ sơ"),
    "case.assign": lazy_pgettext("audit action", "Phân công cán bộ"),
    "case.unassign": lazy_pgettext("audit action", "Thôi phân công cán bộ"),
    "case.transition": lazy_pgettext("audit action", "Chuyển bước hồ sơ"),
    "case.comment": lazy_pgettext("audit action", "Thêm ý kiến trao đổi"),
    "case.extend": lazy_pgettext("audit action", "Gia hạn hồ sơ"),
    "case.due_change": lazy_pgettext("audit action", "Đổi hạn giải quyết"),
    "case.break_glass": lazy_pgettext("audit action", "Mở hồ sơ khẩn cấp"),
    "case.archive": lazy_pgettext("audit action", "Chuyển hồ sơ vào lưu trữ"),
    "case.purge": lazy_pgettext("audit action", "Hủy nội dung hồ sơ hết thời hạn lưu trữ"),
    "finding.create": lazy_pgettext("audit action", "Ghi kết quả xác minh"),
    "attachment.upload": lazy_pgettext("audit action", "Tải lên tệp đính kèm"),
    "attachment.download": lazy_pgettext("audit action", "Tải xuống tệp đính kèm"),
    "petition.petitioner_view": lazy_pgettext("audit action", "Xem thông tin người gửi đơn"),
    "conclusion.create": lazy_pgettext("audit action", "Soạn dự thảo kết luận"),
    "conclusion.update": lazy_pgettext("audit action", "Sửa dự thảo kết luận"),
    "conclusion.approve": lazy_pgettext("audit action", "Phê duyệt kết luận"),
    "conclusion.print": lazy_pgettext("audit action", "In kết luận"),
    "print_register.view": lazy_pgettext("audit action", "Xem sổ theo dõi bản in"),
    # Inspection visits (issue 24 A.2, cases/oversight/visits.py)
    "oversight.visit.create": lazy_pgettext("audit action", "Ghi nhận đợt kiểm tra chuyên đề"),
    "oversight.visit.view": lazy_pgettext("audit action", "Xem đợt kiểm tra chuyên đề"),
    "oversight.visit.close": lazy_pgettext("audit action", "Kết thúc đợt kiểm tra chuyên đề"),
    "oversight.recommendation.add": lazy_pgettext("audit action", "Thêm khuyến nghị kiểm tra"),
    "oversight.recommendation.edit": lazy_pgettext("audit action", "Sửa khuyến nghị kiểm tra"),
    "oversight.recommendation.report": lazy_pgettext("audit action", "Báo cáo thực hiện khuyến nghị kiểm tra"),
    "oversight.recommendation.accept": lazy_pgettext("audit action", "Chấp nhận kết quả thực hiện khuyến nghị"),
    "oversight.recommendation.send_back": lazy_pgettext("audit action", "Trả lại khuyến nghị để thực hiện tiếp"),
    "oversight.recommendation.waive": lazy_pgettext("audit action", "Miễn thực hiện khuyến nghị kiểm tra"),
    "oversight.file.download": lazy_pgettext("audit action", "Tải tệp báo cáo thực hiện khuyến nghị"),
    # Review campaigns: the pages and the summary for the standing committee
    "campaign.list": lazy_pgettext("audit action", "Xem danh sách đợt thẩm định"),
    "campaign.print": lazy_pgettext("audit action", "In danh sách tổng hợp của đợt thẩm định"),
    "campaign.export": lazy_pgettext("audit action", "Xuất danh sách tổng hợp của đợt thẩm định"),
    "campaign.print_register.view": lazy_pgettext("audit action", "Xem sổ theo dõi bản in của đợt thẩm định"),
    # Review campaigns: creating, filling and working them (cases/campaigns/operations.py)
    "campaign.create": lazy_pgettext("audit action", "Tạo đợt thẩm định"),
    "campaign.close": lazy_pgettext("audit action", "Kết thúc đợt thẩm định"),
    "campaign.nominees_add": lazy_pgettext("audit action", "Thêm nhân sự vào đợt thẩm định"),
    "campaign.reuse": lazy_pgettext("audit action", "Dùng lại kết luận còn hiệu lực cho nhân sự"),
    "campaign.open_reviews": lazy_pgettext("audit action", "Mở hồ sơ thẩm định cho nhân sự của đợt"),
    "campaign.assign": lazy_pgettext("audit action", "Phân công cán bộ cho nhân sự của đợt"),
    "campaign.hand_out": lazy_pgettext("audit action", "Giao nhân sự cho đơn vị cấp dưới"),
    "campaign.view": lazy_pgettext("audit action", "Xem bảng theo dõi đợt thẩm định"),
    "campaign.summary": lazy_pgettext("audit action", "Xuất tổng hợp đợt thẩm định (dòng lệnh)"),
    "classification.review": lazy_pgettext("audit action", "Rà soát độ mật"),
    "break_glass.list": lazy_pgettext("audit action", "Xem danh sách truy cập khẩn cấp"),
    "break_glass.review": lazy_pgettext("audit action", "Đánh giá lượt truy cập khẩn cấp"),
    # The release of a petitioner's identity (issue 23)
    "identity_release.ask": lazy_pgettext("audit action", "Đề nghị mở danh tính người gửi đơn"),
    "identity_release.approve": lazy_pgettext("audit action", "Phê duyệt mở danh tính người gửi đơn"),
    "identity_release.refuse": lazy_pgettext("audit action", "Từ chối mở danh tính người gửi đơn"),
    "identity_release.withdraw": lazy_pgettext("audit action", "Rút đề nghị mở danh tính người gửi đơn"),
    "identity_release.expire": lazy_pgettext("audit action", "Hết hạn đề nghị hoặc lượt mở danh tính người gửi đơn"),
    "identity_release.list": lazy_pgettext("audit action", "Xem danh sách mở danh tính người gửi đơn"),
    "identity_release.review": lazy_pgettext("audit action", "Đánh giá lượt mở danh tính người gửi đơn"),
    # The guidance library (issue 24 A.3)
    "guidance.list": lazy_pgettext("audit action", "Xem thư viện hướng dẫn nghiệp vụ"),
    "guidance.view": lazy_pgettext("audit action", "Xem hướng dẫn nghiệp vụ"),
    "guidance.download": lazy_pgettext("audit action", "Tải tệp hướng dẫn nghiệp vụ"),
    "guidance.readers": lazy_pgettext("audit action", "Xem danh sách đã đọc hướng dẫn nghiệp vụ"),
    "guidance.publish": lazy_pgettext("audit action", "Ban hành hướng dẫn nghiệp vụ"),
    "guidance.new_version": lazy_pgettext("audit action", "Ban hành phiên bản mới của hướng dẫn nghiệp vụ"),
    "guidance.withdraw": lazy_pgettext("audit action", "Bãi bỏ hướng dẫn nghiệp vụ"),
    "guidance.read": lazy_pgettext("audit action", "Xác nhận đã đọc hướng dẫn nghiệp vụ"),
    # The digital archive: filing, reading and recognising scans (issue 24 B)
    "archive.scan.view": lazy_pgettext("audit action", "Mở trang đọc bản quét"),
    "archive.scan.page_view": lazy_pgettext("audit action", "Xem một trang bản quét (có dấu người đọc)"),
    "archive.scan.recognise": lazy_pgettext("audit action", "Nhận dạng chữ bản quét"),
    # Coordination with partner bodies
    "coordination.list": lazy_pgettext("audit action", "Xem danh sách yêu cầu phối hợp"),
    "coordination.view": lazy_pgettext("audit action", "Xem yêu cầu phối hợp"),
    "coordination.send": lazy_pgettext("audit action", "Gửi yêu cầu phối hợp"),
    "coordination.transition": lazy_pgettext("audit action", "Chuyển bước yêu cầu phối hợp"),
    # Exchange packages with partner bodies off the intranet (issue 21 §B)
    "exchange_key.register": lazy_pgettext("audit action", "Đăng ký khóa trao đổi gói của cơ quan phối hợp"),
    "exchange_key.replace": lazy_pgettext("audit action", "Thay khóa trao đổi gói của cơ quan phối hợp"),
    "exchange.export": lazy_pgettext("audit action", "Xuất gói yêu cầu phối hợp"),
    "exchange.import": lazy_pgettext("audit action", "Nhập gói trả lời của cơ quan phối hợp"),
    "exchange.printout": lazy_pgettext("audit action", "Xem bản in dấu vân tay gói trao đổi"),
    # The partner API's writes (issue 21 §A.2): the call itself, beside what the operation records
    "api.write": lazy_pgettext("audit action", "Ghi qua API đối tác"),
    "api.write_replayed": lazy_pgettext("audit action", "Trả lại kết quả lần gọi API trước (cùng Idempotency-Key)"),
    "api.refused": lazy_pgettext("audit action", "API đối tác từ chối lần gọi"),
    # Notifications by mail (notify send-due)
    "notify.reminders_raised": lazy_pgettext("audit action", "Tạo nhắc việc đến hạn, quá hạn"),
    "notify.mail_sent": lazy_pgettext("audit action", "Gửi thư thông báo"),
    "notify.mail_skipped": lazy_pgettext("audit action", "Bỏ qua thông báo không gửi thư được"),
    "notify.mail_refused": lazy_pgettext("audit action", "Máy chủ thư từ chối thư thông báo"),
    # Reports, the trail itself, backups and keys
    "report.view": lazy_pgettext("audit action", "Xem báo cáo thống kê"),
    "report.export": lazy_pgettext("audit action", "Xuất báo cáo thống kê"),
    "oversight.board.view": lazy_pgettext("audit action", "Xem bảng theo dõi đơn vị trực thuộc"),
    "oversight.board.export": lazy_pgettext("audit action", "Xuất bảng theo dõi đơn vị trực thuộc"),
    "audit.search": lazy_pgettext("audit action", "Tra cứu nhật ký kiểm toán"),
    "audit.export": lazy_pgettext("audit action", "Xuất nhật ký kiểm toán"),
    "audit.verify": lazy_pgettext("audit action", "Kiểm tra toàn vẹn nhật ký"),
    "backup.create": lazy_pgettext("audit action", "Tạo bản sao lưu"),
    "backup.restore": lazy_pgettext("audit action", "Khôi phục từ bản sao lưu"),
    "keys.rotate_master.start": lazy_pgettext("audit action", "Bắt đầu thay khóa chủ"),
    "keys.rotate_master.batch": lazy_pgettext("audit action", "Thay khóa chủ (một đợt)"),
    "keys.rekey.start": lazy_pgettext("audit action", "Bắt đầu mã hóa lại khóa dữ liệu"),
    "keys.rekey.batch": lazy_pgettext("audit action", "Mã hóa lại khóa dữ liệu (một đợt)"),
    "keys.reindex.start": lazy_pgettext("audit action", "Bắt đầu dựng lại chỉ mục tìm kiếm"),
    "keys.reindex.batch": lazy_pgettext("audit action", "Dựng lại chỉ mục tìm kiếm (một đợt)"),
    "keys.reindex.finish": lazy_pgettext("audit action", "Hoàn tất dựng lại chỉ mục tìm kiếm"),
    "keys.split": lazy_pgettext("audit action", "In khóa chủ thành các phần giữ khóa"),
    "keys.combine": lazy_pgettext("audit action", "Khôi phục khóa chủ từ các phần giữ khóa"),
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
    "unlinked": _l("bản ghi không có mắt xích trong chuỗi"),
}


def verification_summary(report: Report) -> str:
    """The web page's words for a verification (the CLI prints Report.summary())."""
    text = _verdict(report)
    if report.pending:
        text += " " + _("Còn %(n)d bản ghi đang chờ xâu chuỗi.", n=report.pending)
    return text


def _verdict(report: Report) -> str:
    if report.problem is not None:
        return _("Phát hiện sai lệch tại bản ghi #%(seq)d: %(problem)s.", seq=report.problem.seq,
                 problem=PROBLEM_LABELS.get(report.problem.kind, report.problem.kind))
    if report.last_checkpoint_seq is None:
        return _("Toàn vẹn: đã kiểm tra %(n)d bản ghi (bản ghi cuối #%(last)d); chưa có điểm ký nào.",
                 n=report.entries_checked, last=report.last_seq or 0)
    return _("Toàn vẹn: đã kiểm tra %(n)d bản ghi (bản ghi cuối #%(last)d) và %(checkpoints)d điểm ký "
             "(điểm ký cuối tại bản ghi #%(checkpoint)d).", n=report.entries_checked, last=report.last_seq or 0,
             checkpoints=report.checkpoints_checked, checkpoint=report.last_checkpoint_seq)
