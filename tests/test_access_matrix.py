"""Need-to-know (issue 6): one authorization matrix over every route, checked against the
live route map, then IDOR attempts, lists and counts, break-the-glass and the audit of
every denial.

The scenario: a district unit (HUYEN, below the provincial organisation committee BTCTU)
owns a confidential review R of subject S (with a finding, two files and a coordination
request Q to the police committee DUCA) and a confidential petition P naming S. Another
unit (BTGTU) owns its own review O, request OQ (to DUQS) and petition OP. Users stand in
each relation to R/P/Q/S (see PEOPLE). Cases are set up through the services; every check
is an HTTP request made after the app context that touched the database is closed
(SQLite's BEGIN IMMEDIATE would otherwise wait on itself).
"""

from __future__ import annotations

import functools
import hashlib
import html
import io
import re
import uuid
from dataclasses import dataclass, field
from datetime import date, timedelta

import pytest
from sqlalchemy import func, select, text, update

from app import create_app
from audit.models import AuditEntry
from audit.trail import detail_of
from cases.access import operations as access
from cases.archive import register as archive
from cases.archive.models import ArchiveDocument
from cases.archive.scans import add_scan
from cases.campaigns import operations as campaigns
from cases.campaigns.operations import CampaignData
from cases.casework import operations
from cases.casework.operations import FindingData
from cases.conclusions import signing
from cases.coordination import operations as coordination
from cases.coordination.operations import RequestData
from cases.demo.scans import jpeg_scan, pdf_scan
from cases.models import (
    Assignment,
    BreakGlassAccess,
    CampaignNominee,
    Case,
    Conclusion,
    CoordinationRequest,
    Subject,
)
from cases.notifications import service
from cases.notifications.models import Notification
from cases.oversight import guidance as guidance_ops
from cases.oversight import visits
from cases.oversight.models import OversightFile
from cases.partners import clients
from cases.partners.models import ExchangePackage
from cases.petitions import operations as petitions
from cases.petitions import releases
from cases.petitions.operations import PetitionData
from cases.reviews import operations as reviews
from cases.reviews.operations import ReviewData
from cases.subjects import operations as subjects
from cases.subjects.operations import RelativeData, SubjectData
from protection import accounts
from protection.clock import utcnow
from protection.db import Base, db
from protection.identity import DirectoryRequest, Role, Unit, User
from protection.policy import ROLE_PERMISSIONS, declared_permission
from protection.sessions import AuthSession
from tests import factories, pages
from tests.conftest import CSRF_PATTERN, _config, _empty_all_tables
from tests.pages import org_today, text_of

PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"

# Protected texts: none may appear in a refused response.
TITLE = "Thẩm định bổ nhiệm Trưởng phòng Nội vụ huyện Sơn Hà"
SUMMARY = "Tóm tắt nội bộ về quá trình công tác"
FINDING = "Ông ngoại từng làm việc cho chế độ cũ tại Quảng Ngãi"
QUESTIONS = "Đề nghị xác minh thời gian công tác tại Công an huyện"
SHARED_FILE = "bien-ban-xac-minh.pdf"
UNSHARED_FILE = "to-trinh-noi-bo-khong-chia-se.pdf"
PETITION_TITLE = "Đơn tố cáo việc kê khai tài sản của cán bộ huyện"
PETITION_SUMMARY = "Nội dung đơn phản ánh tài sản không rõ nguồn gốc"
PETITIONER = "Trần Văn Người Gửi Đơn"
SUBJECT_NAME = "Hoàng Văn Bị Thẩm Định"
SUBJECT_ID = "038079001234"
RELATIVE_NAME = "Hoàng Văn Cha Đẻ"
OTHER_TITLE = "Thẩm định quy hoạch Phó Trưởng ban Tuyên giáo"
OTHER_SUBJECT = "Đinh Thị Đơn Vị Khác"
OTHER_SUBJECT_ID = "001185006789"
OTHER_FINDING = "Nội dung xác minh riêng của đơn vị khác"
OTHER_FILE = "ho-so-don-vi-khac.pdf"
OTHER_PETITION_TITLE = "Đơn phản ánh của đơn vị khác"
CAMPAIGN_TITLE = "Nhân sự Đại hội Đảng bộ huyện Sơn Hà nhiệm kỳ 2025–2030"
GUIDANCE_TITLE = "Hướng dẫn nghiệp vụ thẩm định lý lịch năm 2027"
ARCHIVE_TITLE = "Quyết định kết nạp Đảng viên lưu trong hồ sơ giấy"
SECRETS = (ARCHIVE_TITLE, TITLE, SUMMARY, FINDING, QUESTIONS, SHARED_FILE, UNSHARED_FILE, PETITION_TITLE, PETITION_SUMMARY,
           PETITIONER, SUBJECT_NAME, RELATIVE_NAME, OTHER_TITLE, OTHER_SUBJECT, OTHER_FINDING, OTHER_FILE,
           OTHER_PETITION_TITLE, CAMPAIGN_TITLE, GUIDANCE_TITLE)
# The title of a confidential document of S's dossier whose scan the reader rows open (issue 24 B.3).
SCAN_TITLE = "Quyết định kỷ luật khiển trách năm 1998"
SECRETS = (*SECRETS, SCAN_TITLE)
REASON = "Lãnh đạo yêu cầu trả lời gấp Ban Thường vụ trong buổi họp chiều nay"


@pytest.fixture(autouse=True)
def _rate_limit_out_of_the_way(app_config):
    app_config["HOSO_LOGIN_RATE_LIMIT"] = "1000 per minute"


# --- who stands where -------------------------------------------------------------------------

# (role, relation to R/P/Q/S) -> (unit, clearance). R and P are confidential, owned by HUYEN,
# a district unit below BTCTU; Q is addressed to DUCA.
PEOPLE = {
    ("officer", "assigned"): ("HUYEN", "secret"),
    ("officer", "same_unit"): ("HUYEN", "secret"),
    ("officer", "sub_unit"): ("BTCTU", "secret"),  # officer of the parent unit: officers get no sub-units
    ("officer", "other_unit"): ("BTGTU", "secret"),
    ("officer", "above_clearance"): ("HUYEN", "unclassified"),
    ("officer", "recused"): ("HUYEN", "secret"),  # assigned to R and P, then found to be S
    ("liaison", "addressed_body"): ("DUCA", "secret"),
    ("liaison", "other_unit"): ("DUQS", "secret"),  # a body Q is not addressed to
    ("liaison", "above_clearance"): ("DUCA", "unclassified"),
    ("liaison", "recused"): ("DUCA", "secret"),
    ("supervisor", "same_unit"): ("HUYEN", "secret"),
    ("supervisor", "sub_unit"): ("BTCTU", "secret"),  # supervisor of HUYEN's parent
    ("supervisor", "other_unit"): ("BTGTU", "secret"),
    ("supervisor", "above_clearance"): ("HUYEN", "unclassified"),
    ("supervisor", "recused"): ("HUYEN", "secret"),
    ("auditor", "-"): ("BTCTU", "top_secret"),
    ("admin", "-"): ("BTCTU", "top_secret"),
}
ANONYMOUS = ("anonymous", "-")

# Outcomes. DENY_403 and HIDDEN_404: refused (audited, nothing shown, nothing changed).
# LOGIN: GET -> redirect to /login, POST -> 401/400. Any other cell is allowed and names the
# status the view answers to the cell's request (a page, a redirect after the change, or 400
# for a harmless empty body): "200", or "302/200" when GET and POST answer differently.
DENY_403, HIDDEN_404, LOGIN = "DENY_403", "HIDDEN_404", "LOGIN"
CODES = {"403": DENY_403, "404": HIDDEN_404, "L": LOGIN}


@dataclass(frozen=True)
class Allowed:
    """An allowed cell: the policy lets the request through and the view answers `get`
    (to a GET) or `post` (to a POST)."""
    get: int
    post: int

    @classmethod
    def parse(cls, code: str) -> Allowed:
        get, _, post = code.partition("/")
        return cls(int(get), int(post or get))

    def status(self, method: str) -> int:
        return self.get if method == "GET" else self.post

    def __str__(self) -> str:
        return str(self.get) if self.get == self.post else f"{self.get}/{self.post}"


def _outcome(code: str):
    return CODES.get(code) or Allowed.parse(code)

# --- THE MATRIX --------------------------------------------------------------------------------
#
# Routes on an object (case R or petition P, request Q, subject S): one column per (role, relation).
#   o = officer, l = liaison, s = supervisor.  asg = assigned, unit = same unit (not assigned),
#   sub = sub-unit (parent unit's user), oth = other unit (liaison: a body Q is not addressed to),
#   clr = classified above the user's clearance, rec = recused (user's citizen ID = S's),
#   body = the liaison of the body Q is addressed to.
OBJECT_COLUMNS = (
    ("officer", "assigned"), ("officer", "same_unit"), ("officer", "sub_unit"), ("officer", "other_unit"),
    ("officer", "above_clearance"), ("officer", "recused"),
    ("liaison", "addressed_body"), ("liaison", "other_unit"), ("liaison", "above_clearance"), ("liaison", "recused"),
    ("supervisor", "same_unit"), ("supervisor", "sub_unit"), ("supervisor", "other_unit"),
    ("supervisor", "above_clearance"), ("supervisor", "recused"),
    ("auditor", "-"), ("admin", "-"), ANONYMOUS,
)
OBJECT_TABLE = """
endpoint                     | o.asg o.unit o.sub o.oth o.clr o.rec | l.body l.oth l.clr l.rec | s.unit s.sub s.oth s.clr s.rec | aud adm anon
# reading a case (R; petitioner: P)
cases.view                   | 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
# the petitioner's identity opens only under a release (issue 23): without one, to the ask page
cases.petitioner             | 302   403    404   404   404   404   | 403    403   403   403   | 302    302   404   404   404   | 403 403 L
cases.download               | 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
coordination.officer_view    | 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
coordination.officer_download| 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
# opening in an emergency: only an unassigned officer of the unit itself (others already read, or 404)
cases.break_glass            | 400   200    404   404   404   404   | 403    403   403   403   | 400    400   404   404   404   | 403 403 L
# working a case: assigned officers only (supervisors and other roles lack case.work: 403 first)
cases.transition             | 400   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.decide                 | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.extend                 | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.comment                | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.upload                 | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.add_finding            | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.conclusion             | 302   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.submit_conclusion      | 302   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
cases.correction             | 302   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
coordination.new_request     | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
coordination.accept          | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
coordination.request_more    | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
coordination.withdraw        | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
# exchange packages of Q (issue 21 §B): export (DUCA has no key here: refused, back to Q's
# page) and import (no file: the page again, the reason beside the field) as working Q;
# a package's fingerprint printout as reading it
coordination.export_package  | 303   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
coordination.import_package  | 200   403    404   404   404   404   | 403    403   403   403   | 403    403   403   403   403   | 403 403 L
coordination.package_printout| 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
# asking to release P's petitioner (an empty reason: the page again), and following one's asks
cases.identity_release       | 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
# deciding the officer's ask on P: supervisors of the scope. An empty password: the page again;
# a refusal needs no note, so the first refuses it and the second is told it no longer waits
cases.approve_identity_release | 403 403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
cases.refuse_identity_release| 403   403    403   403   403   403   | 403    403   403   403   | 302    200   404   404   404   | 403 403 L
# withdrawing it: the asker (it no longer waits: told so); anyone else who may ask is told it is not theirs
cases.withdraw_identity_release | 302 403   404   404   404   404   | 403    403   403   403   | 302    302   404   404   404   | 403 403 L
# assigning and approving: supervisors of the scope
cases.assign                 | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
cases.unassign               | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   404   | 403 403 L
cases.approve                | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   404   | 403 403 L
cases.return_conclusion      | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   404   | 403 403 L
# the liaison's side of Q: only the addressed body, cleared, not recused
coordination.liaison_view    | 403   403    403   403   403   403   | 200    404   404   404   | 403    403   403   403   403   | 403 403 L
coordination.acknowledge     | 403   403    403   403   403   403   | 200    404   404   404   | 403    403   403   403   403   | 403 403 L
coordination.log_finding     | 403   403    403   403   403   403   | 200    404   404   404   | 403    403   403   403   403   | 403 403 L
coordination.upload          | 403   403    403   403   403   403   | 200    404   404   404   | 403    403   403   403   403   | 403 403 L
coordination.answer          | 403   403    403   403   403   403   | 200    404   404   404   | 403    403   403   403   403   | 403 403 L
coordination.liaison_download| 403   403    403   403   403   403   | 200    404   404   404   | 403    403   403   403   403   | 403 403 L
# the dossier of S (owned by HUYEN; dossiers carry no classification, so "clr" reads it);
# a recused user is S: rule 5 and the brief's "404 everywhere"
subjects.view                | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
subjects.edit                | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
subjects.add_relative        | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
subjects.edit_relative       | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
subjects.remove_relative     | 302   302    404   404   302   404   | 403    403   403   403   | 302    302   404   302   404   | 403 403 L
# a scan of a confidential document in S's dossier (issue 24 B.3): whoever reads the dossier,
# cleared for the document ("clr" is unclassified: hidden); recognising its text, whoever may
# edit the dossier (a POST without the form's state is not ours: 400)
archive.read_scan            | 200   200    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
archive.scan_page            | 200   200    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
archive.recognise_scan       | 400   400    404   404   404   404   | 403    403   403   403   | 400    400   404   404   404   | 403 403 L
# S's document register (issue 24 B): read and changed as S is (its one document is unclassified);
# an allowed POST carrying only the tokens: the form again (200), or moved/removed and back (302)
archive.register             | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
archive.print_register       | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
archive.download_scan        | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
archive.add_document         | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
archive.edit_document        | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
archive.upload_scan          | 200   200    404   404   200   404   | 403    403   403   403   | 200    200   404   200   404   | 403 403 L
archive.move_document        | 302   302    404   404   302   404   | 403    403   403   403   | 302    302   404   302   404   | 403 403 L
archive.remove_document      | 302   302    404   404   302   404   | 403    403   403   403   | 302    302   404   302   404   | 403 403 L
# paper copies of R's approved conclusion and their register: the assigned officer and the
# supervisors of the scope (an emergency reader, a liaison, auditor or admin never print)
prints.print_conclusion      | 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
prints.register              | 200   403    404   404   404   404   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
# purging R (refused while open: the page only) and reviewing its classification: the
# supervisors of the scope who may know it exists
retention.purge              | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
retention.decide             | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   404   | 403 403 L
# a review campaign C owned by HUYEN (confidential) listing S, whose review R answers for them:
# its board for whoever works one of its reviews or whose scope holds HUYEN, cleared for it
# (a recused user sees the page, never the row about themselves); changing it, the summary
# and its register for its supervisors (a bulk action with nothing ticked goes back: 302)
campaigns.board              | 200   200    404   404   404   200   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
campaigns.nominees           | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
campaigns.pick               | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   302   | 403 403 L
campaigns.reuse              | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   302   | 403 403 L
campaigns.open_reviews       | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   302   | 403 403 L
campaigns.assign             | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   302   | 403 403 L
campaigns.hand_out           | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   302   | 403 403 L
campaigns.summary_xlsx       | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
campaigns.print_summary      | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
campaigns.prints             | 403   403    403   403   403   403   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
campaigns.close              | 403   403    403   403   403   403   | 403    403   403   403   | 302    302   404   404   302   | 403 403 L
# guidance G published by BTCTU (HUYEN's parent) by its supervisor (s.sub): read by the officers
# and supervisors of BTCTU and of the units below it (guidance carries no classification and
# names nobody, so "clr" and "rec" read it); another unit's people: 404; liaisons: 403. The
# read receipt: each reader's first; changing G and who has read it: BTCTU's supervisors only
# (an empty version or withdrawal form: the page again)
oversight.guidance_view      | 200   200    200   404   200   200   | 403    403   403   403   | 200    200   404   200   200   | 403 403 L
oversight.guidance_download  | 200   200    200   404   200   200   | 403    403   403   403   | 200    200   404   200   200   | 403 403 L
oversight.guidance_read      | 302   302    302   404   302   302   | 403    403   403   403   | 302    302   404   302   302   | 403 403 L
oversight.guidance_new_version | 403 403    403   403   403   403   | 403    403   403   403   | 403    200   404   403   403   | 403 403 L
oversight.guidance_withdraw  | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   403   403   | 403 403 L
oversight.guidance_readers   | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   403   403   | 403 403 L
# an inspection visit V by BTCTU to HUYEN (confidential; issue 24 A.2), recommendation 1 open
# and addressed to HUYEN, recommendation 2 reported with a file: HUYEN's users see it and report,
# BTCTU's supervisors (s.sub) decide. Empty forms: the page again; closing with a recommendation
# open is refused and flashed (302); accepting an open one is refused beside the form (200)
oversight.view_visit         | 200   200    404   404   404   200   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
oversight.download_file      | 200   200    404   404   404   200   | 403    403   403   403   | 200    200   404   404   200   | 403 403 L
oversight.report             | 200   200    404   404   404   200   | 403    403   403   403   | 200    403   404   404   200   | 403 403 L
oversight.new_recommendation | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   404   403   | 403 403 L
oversight.edit_recommendation| 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   404   403   | 403 403 L
oversight.decide             | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   404   403   | 403 403 L
oversight.accept             | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   404   403   | 403 403 L
oversight.send_back          | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   404   403   | 403 403 L
oversight.waive              | 403   403    403   403   403   403   | 403    403   403   403   | 403    200   404   404   403   | 403 403 L
oversight.close_visit        | 403   403    403   403   403   403   | 403    403   403   403   | 403    302   404   404   403   | 403 403 L
"""

# Routes on no particular case: one row per role (relation "-"). The officer is the assigned
# officer, the liaison the addressed body's, the supervisor HUYEN's.
ROLE_COLUMNS = (("officer", "-"), ("liaison", "-"), ("supervisor", "-"), ("auditor", "-"), ("admin", "-"), ANONYMOUS)
ROLE_TABLE = """
endpoint                     | officer liaison supervisor auditor admin anon
home                         | 200     200     200        200     200   L
auth.login                   | 302     302     302        302     302   200
# the process answers (issue 25): public, no detail, the same for everyone
health.healthz               | 200     200     200        200     200   200
auth.second_factor           | 302     302     302        302     302   L
auth.enrol                   | 200     200     200        200     200   L
auth.enrol_qr                | 200     200     200        200     200   L
account.overview             | 200     200     200        200     200   L
account.password             | 200     200     200        200     200   L
account.sessions             | 200     200     200        200     200   L
account.end_other_sessions   | 302     302     302        302     302   L
account.end_session          | 302     302     302        302     302   L
account.read_notices         | 302     302     302        302     302   L
account.language             | 200     200     200        200     200   L
# security keys (issue 23): a signed-in user's POST to the challenge endpoint names no purpose (400)
auth.key_options             | 400     400     400        400     400   L
account.security_keys        | 200     200     200        200     200   L
account.security_key_options | 200     200     200        200     200   L
account.remove_security_key  | 302     302     302        302     302   L
cases.index                  | 200     403     200        403     403   L
cases.new_review             | 200     403     403        403     403   L
cases.new_petition           | 302/200 403     403        403     403   L
coordination.inbox           | 403     200     403        403     403   L
subjects.index               | 200     403     200        403     403   L
subjects.create              | 200     403     200        403     403   L
subjects.export              | 403     403     200        403     403   L
access.queue                 | 403     403     403        200     403   L
access.review                | 403     403     403        302     403   L
access.identity_releases     | 403     403     403        200     403   L
access.review_identity_release | 403   403     403        302     403   L
cases.identity_releases_awaiting | 403 403     200        403     403   L
audit.trail                  | 403     403     403        200     403   L
audit.export                 | 403     403     403        200     403   L
audit.verify_now             | 403     403     403        302     403   L
admin.users                  | 403     403     403        403     200   L
admin.create_user            | 403     403     403        403     200   L
admin.edit_user              | 403     403     403        403     200   L
admin.disable_user           | 403     403     403        403     302   L
admin.enable_user            | 403     403     403        403     302   L
admin.reset_password         | 403     403     403        403     200   L
admin.reset_two_factor       | 403     403     403        403     302   L
admin.reset_security_keys    | 403     403     403        403     302   L
admin.units                  | 403     403     403        403     200   L
admin.directory_requests_list    | 403 403 403 403 200 L
admin.confirm_directory_request  | 403 403 403 403 200 L
admin.refuse_directory_request   | 403 403 403 403 302 L
partners.index               | 403     403     403        403     200   L
partners.create              | 403     403     403        403     200   L
partners.rotate              | 403     403     403        403     200   L
partners.revoke              | 403     403     403        403     303   L
partners.exchange_bodies     | 403     403     403        403     200   L
partners.exchange_key        | 403     403     403        403     200   L
reports.index                | 403     403     200        403     403   L
reports.download             | 403     403     200        403     403   L
# the unit board (issue 24 A.1): supervisors; one whose unit has no sub-unit is told so (200)
oversight.board              | 403     403     200        403     403   L
oversight.board_xlsx         | 403     403     200        403     403   L
retention.index              | 403     403     200        403     403   L
retention.classified         | 403     403     200        403     403   L
campaigns.index              | 200     403     200        403     403   L
campaigns.create             | 403     403     200        403     403   L
# the menu's entry for oversight (issue 24 A): to the board or the guidance library
oversight.index              | 302     403     302        403     403   L
oversight.guidance_library   | 200     403     200        403     403   L
oversight.guidance_new       | 403     403     200        403     403   L
# inspection visits (issue 24 A.2): the list for the units' users; recording one for supervisors
oversight.visits_index       | 200     403     200        403     403   L
oversight.new_visit          | 403     403     200        403     403   L
# everyone's own notifications; opening one of theirs about R: its page for the officer, back
# to the list ("no longer in your scope") for whoever may not see R
notifications.index          | 200     200     200        200     200   L
notifications.open_item      | 303     303     303        303     303   L
notifications.read_all       | 303     303     303        303     303   L
notifications.preferences    | 200/303 200/303 200/303    200/303 200/303 L
# Prometheus metrics (issue 25): public to the gate, refused by their own bearer-token check
# (no session counts, signed in or not: 401, no record); tests/test_metrics.py covers the token
metrics.scrape               | 401     401     401        401     401   401
auth.logout                  | 302     302     302        302     302   L
"""
ROLE_STAND_IN = {"officer": ("officer", "assigned"), "liaison": ("liaison", "addressed_body"),
                 "supervisor": ("supervisor", "same_unit"), "auditor": ("auditor", "-"), "admin": ("admin", "-"),
                 "anonymous": ANONYMOUS}


def _parse(table: str, columns: tuple) -> dict[str, dict[tuple[str, str], str]]:
    matrix = {}
    for line in table.strip().splitlines()[1:]:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        endpoint, cells = line.split("|", 1)
        codes = cells.replace("|", " ").split()
        assert len(codes) == len(columns), f"row {endpoint.strip()}: {len(codes)} cells for {len(columns)} columns"
        matrix[endpoint.strip()] = {column: _outcome(code) for column, code in zip(columns, codes, strict=True)}
    return matrix


# endpoint -> {(role, relation): outcome}. Object routes first; auth.logout last (it signs out).
MATRIX: dict[str, dict[tuple[str, str], str]] = {**_parse(OBJECT_TABLE, OBJECT_COLUMNS),
                                                  **_parse(ROLE_TABLE, ROLE_COLUMNS)}
# Public files, and the partner API (issue 21 §A): it takes a bearer token, never a browser
# session, so every column here would be the same 401; tests/test_api_*.py cover it by token
# and scope instead, and its OpenAPI document and reference are public, with no record in them.
# /readyz is public too, and its 200 or 503 depends on the database's state (on PostgreSQL,
# on the audit sequencer's lag over the class's minutes): tests/test_doctor.py covers it.
NOT_CHECKED = frozenset({"static", "bootstrap.static", "api-docs.openapi_json", "api_reference.reference",
                         "health.readyz", "api.list_requests", "api.get_request", "api.download_file", "api.acknowledge",
                         "api.log_finding", "api.upload_file", "api.answer"})


def _fresh_relative(scene, _who):
    """remove_relative really deletes when allowed: each request gets a relative of its own."""
    with scene.app.app_context():
        subject = db.session.get(Subject, uuid.UUID(scene.subject))
        relative = subjects.add_relative(subject, RelativeData("sibling", "Người Thân Để Xóa"), by=None)
        db.session.commit()
        relative_id = relative.id
    return f"/subjects/{scene.subject}/relatives/{relative_id}/delete"


def _fresh_archive_document(scene, _who):
    """remove_document really removes when allowed: each request gets a document of its own."""
    with scene.app.app_context():
        subject = db.session.get(Subject, uuid.UUID(scene.subject))
        document = archive.add_document(subject, archive.DocumentData("minutes", "Biên bản để xóa"), by=None)
        db.session.commit()
        document_id = document.id
    return f"/archive/subjects/{scene.subject}/register/{document_id}/delete"


def _approved_conclusion(page):
    """Printing needs an approved conclusion of R, which stays in verification for the other
    rows: one is written on first use as approval leaves it (numbered, signed)."""
    def url(scene, _who):
        if "conclusion" not in scene.ids:
            with scene.app.app_context():
                review = db.session.get(Case, uuid.UUID(scene.review))
                item = Conclusion(id=uuid.uuid4(), case=review, case_id=review.id, state="submitted",
                                  outcome="no_issue", reasoning="Không có vấn đề", author_id=scene.user_ids[
                                      ("officer", "assigned")], approver_id=scene.user_ids[("supervisor", "same_unit")],
                                  approved_at=utcnow(), document_number="1-KL/HUYEN", valid_until=org_today())
                item.signature, item.signing_key_id = signing.sign(item, review)
                item.state = "approved"
                db.session.add(item)
                db.session.commit()
                scene.ids["conclusion"] = str(item.id)
        return f"/cases/{scene.review}/conclusions/{scene.ids['conclusion']}/{page}"
    return url


def _exchange_package(scene, _who):
    """A package of Q in the exchange ledger (as an export leaves it): made on first use."""
    if "package" not in scene.ids:
        with scene.app.app_context():
            row = ExchangePackage(id=uuid.uuid4(), request_id=uuid.UUID(scene.request), direction="out",
                                  sha256="A" * 64, key_fingerprint="B" * 64,
                                  created_by_id=scene.user_ids[("officer", "assigned")])
            db.session.add(row)
            db.session.commit()
            scene.ids["package"] = str(row.id)
    return f"/cases/{scene.review}/requests/{scene.request}/packages/{scene.ids['package']}"


def _police_exchange_key(scene, _who):
    """The exchange key page of DUCA, the body Q is addressed to."""
    with scene.app.app_context():
        unit_id = db.session.scalar(select(Unit.id).where(Unit.code == "DUCA"))
        db.session.commit()
    return f"/admin/partners/exchange/{unit_id}"


def _api_client(page: str):
    """A page of an API client of DUCA (made on first use)."""
    def url(scene, _who):
        if "api_client" not in scene.ids:
            with scene.app.app_context():
                body = db.session.scalar(select(Unit).where(Unit.code == "DUCA"))
                client, _token = clients.create_client(body=body, name="Hệ thống nghiệp vụ Công an")
                db.session.commit()
                scene.ids["api_client"] = str(client.id)
        return f"/admin/partners/{scene.ids['api_client']}/{page}"
    return url


def _archive_scan(page: str = ""):
    """A scan (JPEG) of a confidential document in S's register: made on first use."""
    def url(scene, _who):
        if "reader_scan" not in scene.ids:
            with scene.app.app_context():
                subject = db.session.get(Subject, uuid.UUID(scene.subject))
                document = ArchiveDocument(subject=subject, position=901, doc_type="decision", title=SCAN_TITLE,
                                           classification="confidential")
                db.session.add(document)
                scan = add_scan(document, jpeg_scan(2401), "quyet-dinh.jpg", by=None)
                db.session.commit()
                scene.ids["reader_scan"] = str(scan.id)
        return f"/archive/scans/{scene.ids['reader_scan']}{page}"
    return url


def _directory_request(page: str = ""):
    """A directory user's pending request (issue 23), a fresh one for each request: an allowed
    refusal decides the one it is given."""
    def url(scene, _who):
        with scene.app.app_context():
            row = DirectoryRequest(id=uuid.uuid4(), username=f"thu.muc.{uuid.uuid4().hex[:8]}",
                                   display_name="Người Dùng Thư Mục", mapped_role=Role.OFFICER)
            db.session.add(row)
            db.session.commit()
            row_id = row.id
        return f"/admin/directory/{row_id}{page}"
    return url


def _own_notification(scene, who):
    """open_item on a notification of the user's own about R (a random id for the anonymous)."""
    user_id = scene.user_ids.get(who)
    if user_id is None:
        return f"/notifications/{uuid.uuid4()}/open"
    with scene.app.app_context():
        service.notify([user_id], service.CASE_ASSIGNED, target_type="case", target_id=uuid.UUID(scene.review),
                       reference=scene.review_ref, dedupe_key=f"matrix:{uuid.uuid4()}")
        notification_id = db.session.scalar(select(Notification.id).where(Notification.user_id == user_id)
                                            .order_by(Notification.created_at.desc()).limit(1))
        db.session.commit()
    return f"/notifications/{notification_id}/open"


def _own_session(scene, who):
    """end_session on the user's own session: allowed, and answers "sign out instead"."""
    user_id = scene.user_ids.get(who)
    if user_id is None:
        return f"/account/sessions/{uuid.uuid4()}/end"
    with scene.app.app_context():
        session_id = db.session.scalar(select(AuthSession.id).where(AuthSession.user_id == user_id)
                                       .order_by(AuthSession.created_at.desc()).limit(1))
        db.session.commit()
    return f"/account/sessions/{session_id}/end"


def _campaign(page: str = ""):
    """A campaign C of HUYEN listing S, with R answering for them: made on first use."""
    def url(scene, _who):
        if "campaign" not in scene.ids:
            with scene.app.app_context():
                owner = db.session.get(User, scene.user_ids[("supervisor", "same_unit")])
                campaign = campaigns.create_campaign(CampaignData(
                    "congress", CAMPAIGN_TITLE, owner.unit_id, org_today() + timedelta(days=30), "confidential"),
                    by=owner)
                campaigns.add_nominees_from_dossiers(campaign, [uuid.UUID(scene.subject)], by=owner)
                nominee = db.session.scalar(select(CampaignNominee).where(CampaignNominee.campaign_id == campaign.id))
                nominee.case_id = uuid.UUID(scene.review)
                db.session.commit()
                scene.ids["campaign"] = str(campaign.id)
        return f"/campaigns/{scene.ids['campaign']}{page}"
    return url


def _guidance(page: str = ""):
    """Guidance G of BTCTU, published by its supervisor (required reading): made on first use."""
    def url(scene, _who):
        if "guidance" not in scene.ids:
            with scene.app.app_context():
                publisher = db.session.get(User, scene.user_ids[("supervisor", "sub_unit")])
                item = guidance_ops.publish(publisher.unit, guidance_ops.GuidanceData(
                    "instruction", GUIDANCE_TITLE, True, guidance_ops.VersionData(
                        org_today(), None, [guidance_ops.Upload(io.BytesIO(PDF), "huong-dan.pdf")])), by=publisher)
                version = item.versions[0]
                scene.ids.update(guidance=str(item.id), guidance_version=str(version.id),
                                 guidance_file=str(version.files[0].id))
                db.session.commit()
        return f"/oversight/guidance/{scene.ids['guidance']}{page.format(**scene.ids)}"
    return url


def _visit(page: str = ""):
    """An inspection visit V by BTCTU to HUYEN (confidential): recommendation 1 open, 2 reported
    with a file, both addressed to HUYEN; made on first use. `page` may name {rec} and {file}."""
    def url(scene, _who):
        if "visit" not in scene.ids:
            with scene.app.app_context():
                inspector = db.session.get(User, scene.user_ids[("supervisor", "sub_unit")])
                officer = db.session.get(User, scene.user_ids[("officer", "assigned")])
                huyen = accounts.find_unit("HUYEN")
                visit = visits.create_visit(visits.VisitData(huyen.id, org_today() - timedelta(days=5), "Đoàn",
                                                             "Phạm vi", None, "confidential"), by=inspector)
                first = visits.add_recommendation(visit, visits.RecommendationData(
                    "Khuyến nghị một", org_today() + timedelta(days=10), huyen.id), by=inspector)
                second = visits.add_recommendation(visit, visits.RecommendationData(
                    "Khuyến nghị hai", org_today() + timedelta(days=10), huyen.id), by=inspector)
                entry = visits.report(second, "Đã làm", [visits.Upload(io.BytesIO(PDF), "bao-cao.pdf")], by=officer)
                db.session.commit()
                scene.ids.update(visit=str(visit.id), visit_rec=str(first.id),
                                 visit_file=str(db.session.scalars(select(OversightFile.id).where(
                                     OversightFile.report_id == entry.id)).one()))
                db.session.commit()
        return f"/oversight/visits/{scene.ids['visit']}" + page.format(rec=scene.ids["visit_rec"],
                                                                       file=scene.ids["visit_file"])
    return url


URLS = {
    "home": "/",
    "auth.login": "/login",
    "health.healthz": "/healthz",
    "metrics.scrape": "/metrics",
    "auth.second_factor": "/login/second-factor",
    "auth.enrol": "/account/two-factor/enrol",
    "auth.enrol_qr": "/account/two-factor/qr.svg",
    "auth.logout": "/logout",
    "account.overview": "/account/",
    "account.password": "/account/password",
    "account.sessions": "/account/sessions",
    "account.end_other_sessions": "/account/sessions/end-others",
    "account.end_session": _own_session,
    "account.read_notices": "/account/notices/read",
    "account.language": "/account/language",
    "auth.key_options": "/login/key-options",
    "account.security_keys": "/account/security-keys",
    "account.security_key_options": "/account/security-keys/options",
    "account.remove_security_key": f"/account/security-keys/{uuid.uuid4()}/remove",
    "admin.users": "/admin/users",
    "admin.create_user": "/admin/users/new",
    "admin.edit_user": "/admin/users/{target_user}",
    "admin.disable_user": "/admin/users/{target_user}/disable",
    "admin.enable_user": "/admin/users/{target_user}/enable",
    "admin.reset_password": "/admin/users/{target_user}/reset-password",
    "admin.reset_two_factor": "/admin/users/{target_user}/reset-two-factor",
    "admin.reset_security_keys": "/admin/users/{target_user}/reset-security-keys",
    "admin.units": "/admin/units",
    "admin.directory_requests_list": "/admin/directory",
    "admin.confirm_directory_request": _directory_request(),
    "admin.refuse_directory_request": _directory_request("/refuse"),
    "audit.trail": "/audit/",
    "audit.export": "/audit/export.csv",
    "audit.verify_now": "/audit/verify",
    "access.queue": "/access/break-glass",
    "access.review": "/access/break-glass/{access}/review",
    "cases.index": "/cases/",
    "cases.new_review": "/cases/reviews/new",
    "cases.new_petition": "/cases/petitions/new",
    "cases.view": "/cases/{review}",
    "cases.break_glass": "/cases/{review}/break-glass",
    "cases.petitioner": "/cases/{petition}/petitioner",
    "cases.identity_release": "/cases/{petition}/identity-release",
    "cases.approve_identity_release": "/cases/{petition}/identity-release/{release}/approve",
    "cases.refuse_identity_release": "/cases/{petition}/identity-release/{release}/refuse",
    "cases.withdraw_identity_release": "/cases/{petition}/identity-release/{release}/withdraw",
    "cases.identity_releases_awaiting": "/cases/identity-releases",
    "access.identity_releases": "/access/identity-releases",
    "access.review_identity_release": "/access/identity-releases/{release}/review",
    "cases.transition": "/cases/{review}/transition",
    "cases.decide": "/cases/{petition}/decision",
    "cases.extend": "/cases/{petition}/extend",
    "cases.assign": "/cases/{review}/assign",
    "cases.unassign": "/cases/{review}/unassign/{assignee}",
    "cases.comment": "/cases/{review}/comments",
    "cases.upload": "/cases/{review}/attachments",
    "cases.download": "/cases/{review}/attachments/{shared_file}",
    "cases.add_finding": "/cases/{review}/findings/new",
    "cases.conclusion": "/cases/{review}/conclusion",
    "cases.submit_conclusion": "/cases/{review}/conclusion/submit",
    "cases.approve": "/cases/{review}/conclusion/approve",
    "cases.return_conclusion": "/cases/{review}/conclusion/return",
    "cases.correction": "/cases/{review}/correction",
    "coordination.new_request": "/cases/{review}/requests/new",
    "coordination.officer_view": "/cases/{review}/requests/{request}",
    "coordination.accept": "/cases/{review}/requests/{request}/accept",
    "coordination.request_more": "/cases/{review}/requests/{request}/more",
    "coordination.withdraw": "/cases/{review}/requests/{request}/withdraw",
    "coordination.officer_download": "/cases/{review}/requests/{request}/attachments/{shared_file}",
    "coordination.export_package": "/cases/{review}/requests/{request}/export",
    "coordination.import_package": "/cases/{review}/requests/{request}/import",
    "coordination.package_printout": _exchange_package,
    "partners.index": "/admin/partners/",
    "partners.create": "/admin/partners/new",
    "partners.rotate": _api_client("rotate"),
    "partners.revoke": _api_client("revoke"),
    "partners.exchange_bodies": "/admin/partners/exchange",
    "partners.exchange_key": _police_exchange_key,
    "coordination.inbox": "/requests/",
    "coordination.liaison_view": "/requests/{request}",
    "coordination.acknowledge": "/requests/{request}/acknowledge",
    "coordination.log_finding": "/requests/{request}/findings",
    "coordination.upload": "/requests/{request}/attachments",
    "coordination.answer": "/requests/{request}/answer",
    "coordination.liaison_download": "/requests/{request}/attachments/{shared_file}",
    "subjects.index": "/subjects/",
    "subjects.create": "/subjects/new",
    "subjects.view": "/subjects/{subject}",
    "subjects.edit": "/subjects/{subject}/edit",
    "subjects.add_relative": "/subjects/{subject}/relatives/new",
    "subjects.edit_relative": "/subjects/{subject}/relatives/{relative}",
    "subjects.remove_relative": _fresh_relative,
    "subjects.export": "/subjects/export.csv",
    "archive.register": "/archive/subjects/{subject}/register",
    "archive.print_register": "/archive/subjects/{subject}/register.pdf",
    "archive.download_scan": "/archive/scans/{archive_scan}/download",
    "archive.add_document": "/archive/subjects/{subject}/register/new",
    "archive.edit_document": "/archive/subjects/{subject}/register/{archive_document}/edit",
    "archive.upload_scan": "/archive/subjects/{subject}/register/{archive_document}/scans/new",
    "archive.move_document": "/archive/subjects/{subject}/register/{archive_document}/move/down",
    "archive.remove_document": _fresh_archive_document,
    "reports.index": "/reports/",
    "reports.download": "/reports/export.csv",
    "oversight.board": "/oversight/board",
    "oversight.board_xlsx": "/oversight/board.xlsx",
    "retention.index": "/retention/",
    "retention.classified": "/retention/classified",
    "notifications.index": "/notifications/",
    "notifications.open_item": _own_notification,
    "notifications.read_all": "/notifications/read-all",
    "notifications.preferences": "/notifications/preferences",
    "retention.purge": "/retention/{review}/purge",
    "retention.decide": "/retention/classified/case/{review}",
    "archive.read_scan": _archive_scan(),
    "archive.scan_page": _archive_scan("/pages/1.png"),
    "archive.recognise_scan": _archive_scan("/recognise"),
    "prints.print_conclusion": _approved_conclusion("print"),
    "prints.register": _approved_conclusion("prints"),
    "campaigns.index": "/campaigns/",
    "campaigns.create": "/campaigns/new",
    "campaigns.board": _campaign(),
    "campaigns.nominees": _campaign("/nominees"),
    "campaigns.pick": _campaign("/nominees/pick"),
    "campaigns.reuse": _campaign("/reuse"),
    "campaigns.open_reviews": _campaign("/open-reviews"),
    "campaigns.assign": _campaign("/assign"),
    "campaigns.hand_out": _campaign("/hand-out"),
    "campaigns.summary_xlsx": _campaign("/summary.xlsx"),
    "campaigns.print_summary": _campaign("/print"),
    "campaigns.prints": _campaign("/prints"),
    "campaigns.close": _campaign("/close"),
    "oversight.index": "/oversight/",
    "oversight.guidance_library": "/oversight/guidance/",
    "oversight.guidance_new": "/oversight/guidance/new",
    "oversight.guidance_view": _guidance(),
    "oversight.guidance_download": _guidance("/files/{guidance_file}"),
    "oversight.guidance_read": _guidance("/versions/{guidance_version}/read"),
    "oversight.guidance_new_version": _guidance("/versions/new"),
    "oversight.guidance_withdraw": _guidance("/withdraw"),
    "oversight.guidance_readers": _guidance("/readers"),
    "oversight.visits_index": "/oversight/visits",
    "oversight.new_visit": "/oversight/visits/new",
    "oversight.view_visit": _visit(),
    "oversight.download_file": _visit("/files/{file}"),
    "oversight.report": _visit("/recommendations/{rec}/report"),
    "oversight.new_recommendation": _visit("/recommendations/new"),
    "oversight.edit_recommendation": _visit("/recommendations/{rec}/edit"),
    "oversight.decide": _visit("/recommendations/{rec}"),
    "oversight.accept": _visit("/recommendations/{rec}/accept"),
    "oversight.send_back": _visit("/recommendations/{rec}/send-back"),
    "oversight.waive": _visit("/recommendations/{rec}/waive"),
    "oversight.close_visit": _visit("/close"),
}

# Prefixed forms (coordination pages) read their token under their prefix.
CSRF_FIELDS = ("csrf_token", "ack-csrf_token", "finding-csrf_token", "upload-csrf_token", "answer-csrf_token",
               "accept-csrf_token", "more-csrf_token", "withdraw-csrf_token", "bulk-csrf_token")


# --- the scenario ------------------------------------------------------------------------------

@dataclass
class Scene:
    app: object
    ids: dict
    user_ids: dict
    made: dict
    sign_in: object
    clients: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)

    def __getattr__(self, name):
        ids = self.__dict__.get("ids", {})
        if name in ids:
            return ids[name]
        raise AttributeError(name)

    def client(self, who):
        """The signed-in client of (role, relation); signed in on first use."""
        if who not in self.clients:
            client = self.app.test_client()
            if who != ANONYMOUS:
                response = self.sign_in(self.made[who], target=client)
                assert response.status_code == 302, (who, response.status_code)
            page = client.get("/login", follow_redirects=True).get_data(as_text=True)
            self.tokens[who] = CSRF_PATTERN.search(page).group(1)
            self.clients[who] = client
        return self.clients[who]

    def post(self, who, path, data=None, **kwargs):
        client = self.client(who)
        payload = {name: self.tokens[who] for name in CSRF_FIELDS}
        payload.update(data or {})
        return client.post(path, data=payload, **kwargs)

    def get(self, who, path, **kwargs):
        return self.client(who).get(path, **kwargs)

    def url(self, endpoint, who=None) -> str:
        target = URLS[endpoint]
        return target(self, who) if callable(target) else target.format(**self.ids)


def _user(made) -> User:
    return db.session.get(User, made.id)


@pytest.fixture
def scene(app, make_unit, make_user, sign_in) -> Scene:
    return build_scene(app, make_unit, make_user, sign_in)


def build_scene(app, make_unit, make_user, sign_in) -> Scene:
    """The scenario of the module docstring; `make_unit`, `make_user` and `sign_in` are the
    fixtures (or the same functions on another app)."""
    make_unit("BTCTU", "Ban Tổ chức Tỉnh ủy", kind="organisation")
    make_unit("HUYEN", "Ban Tổ chức Huyện ủy Sơn Hà", kind="district", parent="BTCTU")
    make_unit("BTGTU", "Ban Tuyên giáo Tỉnh ủy", kind="propaganda")
    make_unit("DUCA", "Đảng ủy Công an tỉnh", kind="police")
    make_unit("DUQS", "Đảng ủy Quân sự tỉnh", kind="military")
    made = {who: make_user(who[0], unit=unit, clearance=clearance, display_name=f"Người Dùng {i:02d}")
            for i, (who, (unit, clearance)) in enumerate(PEOPLE.items())}
    bystander = make_user("officer", unit="BTGTU", clearance="secret", display_name="Cán Bộ Đứng Ngoài")
    with app.app_context():
        today = operations.today()
        opener, supervisor = _user(made[("officer", "assigned")]), _user(made[("supervisor", "same_unit")])
        huyen, police, military = (accounts.find_unit(code) for code in ("HUYEN", "DUCA", "DUQS"))
        subject = subjects.create_subject(SubjectData(SUBJECT_NAME, date(1979, 3, 4), SUBJECT_ID),
                                          owner_unit=huyen, by=opener)
        relative = subjects.add_relative(subject, RelativeData("father", RELATIVE_NAME, 1950), by=opener)
        archive_document = archive.add_document(subject, archive.DocumentData("decision", ARCHIVE_TITLE, page_count=1),
                                                by=opener)
        archive_scan = add_scan(archive_document, pdf_scan(1), "quyet-dinh.pdf", by=opener)
        review = reviews.open_review(ReviewData(subject.id, "appointment", "confidential", title=TITLE,
                                                   summary=SUMMARY, due_on=today + timedelta(days=1)), by=opener)
        finding = operations.add_finding(review, FindingData("subject", "political_history", FINDING, "unclassified"),
                                         by=opener)
        shared = operations.add_attachment(review, io.BytesIO(PDF), SHARED_FILE, "unclassified", by=opener)
        unshared = operations.add_attachment(review, io.BytesIO(PDF), UNSHARED_FILE, "unclassified", by=opener)
        for action in ("start_examination", "start_verification"):
            operations.transition(review, action, by=opener)
        request_ = coordination.send_request(review, RequestData(
            police.id, QUESTIONS, today + timedelta(days=20), ["full_name"], [finding.id], [shared.id]), by=opener)
        petition = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="denunciation", classification="confidential",
            summary=PETITION_SUMMARY, petitioner_name=PETITIONER, title=PETITION_TITLE,
            subject_id_numbers=[SUBJECT_ID]), by=opener)
        recused = _user(made[("officer", "recused")])
        operations.assign(review, recused, by=supervisor)
        operations.assign(petition, recused, by=supervisor)
        release = releases.ask(petition, "Cần gặp người tố cáo để xác minh chứng cứ kèm theo đơn", by=opener)

        other_opener = _user(made[("officer", "other_unit")])
        other_subject = subjects.create_subject(SubjectData(OTHER_SUBJECT, date(1985, 6, 7), OTHER_SUBJECT_ID),
                                                owner_unit=other_opener.unit, by=other_opener)
        other = reviews.open_review(ReviewData(other_subject.id, "appointment", "confidential", title=OTHER_TITLE,
                                                  due_on=today + timedelta(days=1)), by=other_opener)
        other_finding = operations.add_finding(other, FindingData("subject", "political_history", OTHER_FINDING,
                                                                  "unclassified"), by=other_opener)
        other_file = operations.add_attachment(other, io.BytesIO(PDF), OTHER_FILE, "unclassified", by=other_opener)
        for action in ("start_examination", "start_verification"):
            operations.transition(other, action, by=other_opener)
        other_request = coordination.send_request(other, RequestData(
            military.id, QUESTIONS, today + timedelta(days=20), ["full_name"], [other_finding.id], [other_file.id]),
            by=other_opener)
        other_petition = petitions.receive_petition(PetitionData(
            received_on=today, channel="post", petition_type="denunciation", classification="unclassified",
            summary="Tóm tắt", petitioner_name="Người Khác", title=OTHER_PETITION_TITLE,
            named_people=["Người Bị Nêu Tên"]), by=other_opener)
        emergency = access.break_glass(other, "Kiểm tra gấp theo chỉ đạo của Thường trực Ban", by=_user(bystander))
        index = access.citizen_index(SUBJECT_ID)
        for who in (("officer", "recused"), ("liaison", "recused"), ("supervisor", "recused")):
            _user(made[who]).citizen_index = index
        ids = {"review": str(review.id), "petition": str(petition.id), "finding": str(finding.id),
               "shared_file": str(shared.id), "unshared_file": str(unshared.id), "request": str(request_.id),
               "subject": str(subject.id), "relative": str(relative.id), "assignee": str(recused.id),
               "review_ref": review.reference, "petition_ref": petition.reference,
               "other_review": str(other.id), "other_ref": other.reference, "other_subject": str(other_subject.id),
               "other_finding": str(other_finding.id), "other_file": str(other_file.id),
               "other_request": str(other_request.id), "other_petition_ref": other_petition.reference,
               "access": str(emergency.id), "target_user": str(bystander.id), "release": str(release.id),
               "archive_document": str(archive_document.id), "archive_scan": str(archive_scan.id)}
        db.session.commit()
    return Scene(app, ids, {who: user.id for who, user in made.items()}, made, sign_in)


# --- reading the database between requests -------------------------------------------------------

VOLATILE_TABLES = ("audit", "auth_sessions", "form_submissions", "keyring")


def fingerprint(app) -> str:
    """A digest of every domain and account table: a refused POST must leave it as it was."""
    digest = hashlib.sha256()
    with app.app_context():
        for table in Base.metadata.sorted_tables:
            if table.name.startswith(VOLATILE_TABLES):
                continue
            columns = [column for column in table.columns
                       if column.name not in ("last_sign_in_at", "last_seen_at", "totp_last_counter")]
            rows = db.session.execute(select(*columns)).all()
            digest.update(table.name.encode() + repr(sorted(map(repr, rows))).encode())
        db.session.commit()
    return digest.hexdigest()


def last_seq(app) -> int:
    with app.app_context():
        value = db.session.scalar(select(func.max(AuditEntry.id))) or 0
        db.session.commit()
    return value


def entries_after(app, seq: int, action: str | None = None) -> list[tuple[str, dict, object]]:
    with app.app_context():
        statement = select(AuditEntry).where(AuditEntry.id > seq).order_by(AuditEntry.id)
        if action:
            statement = statement.where(AuditEntry.action == action)
        rows = [(entry.action, detail_of(entry), entry.actor_id) for entry in db.session.scalars(statement)]
        db.session.commit()
    return rows


def leaked(body: str, *extra: str) -> list[str]:
    return [secret for secret in (*SECRETS, *extra) if secret and secret in body]


# --- 1 and 2: the matrix against the live route map -------------------------------------------

def test_every_endpoint_has_a_row_and_every_row_an_endpoint(app):
    live = {rule.endpoint for rule in app.url_map.iter_rules()} - NOT_CHECKED
    assert not live - MATRIX.keys(), f"endpoints with no row in MATRIX: {sorted(live - MATRIX.keys())}"
    assert not MATRIX.keys() - live, f"MATRIX rows for endpoints that no longer exist: {sorted(MATRIX.keys() - live)}"
    assert MATRIX.keys() == URLS.keys()
    for endpoint, row in MATRIX.items():
        assert set(row) in (set(OBJECT_COLUMNS), set(ROLE_COLUMNS)), endpoint
        assert all(outcome in CODES.values() or isinstance(outcome, Allowed) for outcome in row.values())
    # The matrix states the same role rules as the policy table (a role never reaches an
    # endpoint whose permission it lacks).
    with app.test_request_context():
        for endpoint, row in MATRIX.items():
            roles = ROLE_PERMISSIONS.get(declared_permission(endpoint))
            if roles is None:
                continue
            for (role, _relation), outcome in row.items():
                if role != "anonymous" and role not in {item.value for item in roles}:
                    assert outcome == DENY_403, f"{endpoint} {role}: role lacks the permission, matrix says {outcome}"


def _methods(app, endpoint) -> list[str]:
    rule = next(rule for rule in app.url_map.iter_rules() if rule.endpoint == endpoint)
    return [method for method in ("GET", "POST") if method in rule.methods]


def _check(scene, endpoint, method, who, expected, problems) -> None:
    app = scene.app
    user_who = ROLE_STAND_IN[who[0]] if who[1] == "-" and who not in scene.made and who != ANONYMOUS else who
    path = scene.url(endpoint, user_who)
    allowed = isinstance(expected, Allowed)
    before = fingerprint(app) if method == "POST" and not allowed else None
    seq = last_seq(app) if expected in (DENY_403, HIDDEN_404) else None
    response = scene.get(user_who, path) if method == "GET" else scene.post(user_who, path)
    status, location = response.status_code, response.headers.get("Location", "")
    wanted = expected.status(method) if allowed else expected
    cell = f"{method} {path} [{endpoint}] as {who[0]}/{who[1]}: expected {wanted}, got {status} {location}"
    if status >= 500:
        problems.append(cell)
        return
    if allowed:
        # (Signing out lands on /login too; the gate's redirect carries ?next=.)
        if status != wanted or (status in (302, 303) and location.startswith("/login?next=")):
            problems.append(cell)
        return
    if expected == LOGIN:
        ok = (status == 302 and location.startswith("/login")) if method == "GET" else status in (400, 401)
        if not ok:
            problems.append(cell)
    elif status != {DENY_403: 403, HIDDEN_404: 404}[expected]:
        problems.append(cell)
        return
    body = text_of(response)
    # A refusal shows no protected text; a 404 not even the reference (the case's existence).
    references = (scene.review_ref, scene.petition_ref) if expected != DENY_403 or (endpoint, who) != (
        "cases.view", ("officer", "same_unit")) else ()
    if found := leaked(body, *references):
        problems.append(f"{cell}: the refusal shows {found}")
    if before is not None and fingerprint(app) != before:
        problems.append(f"{cell}: the refused POST changed the database")
    if seq is not None:
        denials = [detail for _action, detail, actor in entries_after(app, seq, "access.denied")
                   if detail.get("endpoint") == endpoint and actor == scene.user_ids[user_who]]
        if not any(detail.get("status") == status for detail in denials):
            problems.append(f"{cell}: no access.denied entry with status {status} ({denials})")


# One pytest case per cell (endpoint x role/relation, both methods the route takes), named
# like "cases.view-officer/assigned". The cells run in the table's order on one scene built
# for the class: building the scene for each of the ~900 requests would take minutes. An
# allowed POST carries only the CSRF tokens, so most change nothing; the few that do
# (unassign, end a session, sign out last) change what no later cell reads.
CELLS = [pytest.param(endpoint, who, id=f"{endpoint}-{who[0]}/{who[1]}")
         for endpoint, row in MATRIX.items() for who in row]


@pytest.fixture(scope="class")
def matrix_scene(database_url, tmp_path_factory):
    """The scenario for the matrix, on an app of its own that lives for the class; every
    table is emptied afterwards, as the `app` fixture does."""
    config = {**_config(database_url, tmp_path_factory.mktemp("instance")),
              "HOSO_LOGIN_RATE_LIMIT": "1000 per minute", "HOSO_METRICS_TOKEN": "m" * 40}
    app = create_app(config)
    counter = iter(range(1, 10_000))

    def make_user(role, **options):
        return factories.make_user(app, role, username=f"{role}{next(counter)}", **options)

    def sign_in(user, *, target):
        return pages.sign_in(app, target, user)

    try:
        yield build_scene(app, functools.partial(factories.make_unit, app), make_user, sign_in)
    finally:
        with app.app_context():
            db.session.remove()
            _empty_all_tables()
            db.engine.dispose()


class TestTheAuthorizationMatrix:
    """Every route x role x relation answers as MATRIX says; every refusal is audited, shows
    nothing protected and changes nothing."""

    @pytest.mark.parametrize(("endpoint", "who"), CELLS)
    def test_cell(self, matrix_scene, endpoint, who):
        problems: list[str] = []
        for method in _methods(matrix_scene.app, endpoint):
            _check(matrix_scene, endpoint, method, who, MATRIX[endpoint][who], problems)
        assert not problems, "\n".join(problems)

    def test_the_cells_cover_every_route_and_grant_no_emergency_access(self, matrix_scene):
        checked = sum(len(_methods(matrix_scene.app, endpoint)) * len(row) for endpoint, row in MATRIX.items())
        assert checked > 900
        with matrix_scene.app.app_context():
            accesses = db.session.scalar(select(func.count()).select_from(BreakGlassAccess))
            db.session.commit()
        assert accesses == 1, "a refused or empty break-the-glass form granted access"


# --- 3: IDOR: other ids in URLs, form fields and query strings -----------------------------------

def _refused(response, *extra):
    assert response.status_code in (403, 404), response.status_code
    assert not leaked(text_of(response), *extra)


def test_ids_changed_in_urls_are_refused(scene):
    officer, liaison = ("officer", "assigned"), ("liaison", "addressed_body")
    s = scene
    for path in (f"/cases/{s.other_review}", f"/cases/{uuid.uuid4()}", f"/cases/{s.other_review}/petitioner",
                 f"/cases/{s.review}/attachments/{s.other_file}",  # another case's file under mine
                 f"/cases/{s.review}/attachments/{uuid.uuid4()}",
                 f"/cases/{s.review}/requests/{s.other_request}",  # another case's request under mine
                 f"/cases/{s.review}/requests/{s.request}/attachments/{s.other_file}",
                 f"/cases/{s.review}/requests/{s.request}/attachments/{s.unshared_file}",  # not in the request
                 f"/cases/{s.other_review}/requests/{s.other_request}",
                 f"/subjects/{s.other_subject}", f"/subjects/{s.subject}/relatives/{uuid.uuid4()}"):
        response = s.get(officer, path)
        assert response.status_code == 404, (path, response.status_code)
        assert not leaked(text_of(response), s.other_ref), path
    for path in (f"/requests/{s.other_request}",  # addressed to another body
                 f"/requests/{uuid.uuid4()}",
                 f"/requests/{s.request}/attachments/{s.unshared_file}",  # the case's, not shared
                 f"/requests/{s.request}/attachments/{s.other_file}",
                 f"/requests/{s.other_request}/attachments/{s.other_file}"):
        response = s.get(liaison, path)
        assert response.status_code == 404, (path, response.status_code)
        assert not leaked(text_of(response), s.other_ref), path
    response = s.post(liaison, f"/requests/{s.other_request}/acknowledge", {"ack-version": "1"})
    _refused(response, s.other_ref)
    with s.app.app_context():
        assert db.session.get(CoordinationRequest, uuid.UUID(s.other_request)).state == "sent"
        db.session.commit()


def _hidden(page: str, name: str) -> str:
    match = re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page)
    assert match, f"no input {name}"
    return html.unescape(match.group(1))


def _assignments(app, case_id) -> set:
    with app.app_context():
        rows = set(db.session.scalars(select(Assignment.user_id).where(Assignment.case_id == uuid.UUID(case_id))))
        db.session.commit()
    return rows


def test_ids_changed_in_form_fields_are_refused(scene):
    s, officer, supervisor = scene, ("officer", "assigned"), ("supervisor", "same_unit")
    # Assign an officer of another unit (and the recused officer's unit peer works: control).
    page = s.get(supervisor, f"/cases/{s.review}").get_data(as_text=True)
    before = _assignments(s.app, s.review)
    for outsider in (s.user_ids[("officer", "other_unit")], s.user_ids[("officer", "sub_unit")],
                     s.user_ids[("officer", "above_clearance")]):
        response = s.post(supervisor, f"/cases/{s.review}/assign",
                          {"officer": str(outsider), "version": _hidden(page, "version")})
        assert response.status_code == 200, response.status_code  # refused beside the field
        assert _assignments(s.app, s.review) == before
    # Share another case's finding or file in a coordination request.
    page = s.get(officer, f"/cases/{s.review}/requests/new").get_data(as_text=True)
    with s.app.app_context():
        requests_before = db.session.scalar(select(func.count()).select_from(CoordinationRequest))
        police = accounts.find_unit("DUCA").id
        db.session.commit()
    base = {"version": _hidden(page, "version"), "form_token": _hidden(page, "form_token"),
            "body_unit_id": str(police), "questions": QUESTIONS,
            "due_on": (org_today() + timedelta(days=20)).strftime("%d/%m/%Y")}
    for changes in ({"finding_ids": [s.other_finding]}, {"attachment_ids": [s.other_file]}):
        response = s.post(officer, f"/cases/{s.review}/requests/new", {**base, **changes})
        assert response.status_code == 200, response.status_code
        body = text_of(response)
        assert OTHER_FINDING not in body and OTHER_FILE not in body and OTHER_TITLE not in body
        with s.app.app_context():
            assert db.session.scalar(select(func.count()).select_from(CoordinationRequest)) == requests_before
            db.session.commit()
    # A petition marked as the repeat of another unit's petition.
    page = s.get(officer, "/cases/petitions/new", follow_redirects=True).get_data(as_text=True)
    with s.app.app_context():
        cases_before = db.session.scalar(select(func.count()).select_from(Case))
        db.session.commit()
    response = s.post(officer, "/cases/petitions/new", {
        "form_token": _hidden(page, "form_token"), "received_on": org_today().strftime("%d/%m/%Y"),
        "channel": "post", "petition_type": "denunciation", "petitioner_name": "Người Thử",
        "named_people": "Người Bị Nêu", "summary": "Tóm tắt", "classification": "unclassified",
        "repeat_of_reference": s.other_petition_ref})
    body = text_of(response)
    assert response.status_code == 200 and 'id="repeat_of_reference-errors"' in response.get_data(as_text=True)
    assert OTHER_PETITION_TITLE not in body
    with s.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Case)) == cases_before
        db.session.commit()


def test_ids_changed_in_query_strings_show_nothing(scene):
    s, officer = scene, ("officer", "assigned")
    for view in ("unit", "mine", "due"):
        response = s.get(officer, "/cases/", query_string={"view": view, "reference": s.other_ref})
        assert response.status_code == 200
        body = text_of(response)
        assert f"/cases/{s.other_review}" not in body and OTHER_TITLE not in body
    # Control: the same filter finds the officer's own case.
    assert f"/cases/{s.review}" in text_of(s.get(officer, "/cases/", query_string={"view": "unit",
                                                                                  "reference": s.review_ref}))
    response = s.get(officer, "/cases/reviews/new", query_string={"subject": s.other_subject})
    assert response.status_code == 200 and OTHER_SUBJECT not in text_of(response)
    assert SUBJECT_NAME in text_of(s.get(officer, "/cases/reviews/new", query_string={"subject": s.subject}))
    response = s.get(officer, "/cases/", query_string={"view": "unit", "subject": OTHER_SUBJECT})
    assert f"/cases/{s.other_review}" not in text_of(response)


# --- 4: lists, search, counts, exports -------------------------------------------------------------

def _list(scene, who, view="unit") -> str:
    response = scene.get(who, "/cases/", query_string={"view": view})
    assert response.status_code == 200
    return text_of(response)


def test_unit_list_shows_references_of_unassigned_cases_but_never_titles(scene):
    s = scene
    body = _list(s, ("officer", "same_unit"))
    assert s.review_ref in body and s.petition_ref in body
    assert TITLE not in body and PETITION_TITLE not in body
    assert s.other_ref not in body and s.other_petition_ref not in body
    body = _list(s, ("officer", "assigned"))
    assert TITLE in body and PETITION_TITLE in body and s.other_ref not in body
    for who in (("officer", "above_clearance"), ("supervisor", "above_clearance"), ("officer", "other_unit"),
                ("officer", "sub_unit"), ("supervisor", "other_unit")):
        body = _list(s, who)
        assert s.review_ref not in body and s.petition_ref not in body, who
        assert TITLE not in body and PETITION_TITLE not in body, who
    body = _list(s, ("supervisor", "sub_unit"))  # the parent unit's supervisor reads the district's cases
    assert TITLE in body and s.review_ref in body and s.other_ref not in body


def _home_count(page: str, card: str) -> int:
    """The count in the title of a home-page card (templates/dashboard/home.html work_card)."""
    match = re.search(rf'id="work-{card}">\s*<span>[^<]*</span>\s*<span class="badge[^"]*">(\d+)\+?</span>', page)
    return int(match.group(1)) if match else 0


def _due_badge(page: str) -> int:
    return _home_count(page, "due")


def _mine_badge(page: str) -> int:
    return _home_count(page, "mine")


def _tab_badges(page: str) -> dict[str, int]:
    return {label: int(count) for label, count in re.findall(
        r'class="nav-link[^"]*"[^>]*>([^<]+?) <span class="badge text-bg-secondary">(\d+)\+?</span>', page)}


def test_badge_counts_do_not_count_hidden_cases(scene):
    s = scene
    home = {who: text_of(s.get(who, "/")) for who in (
        ("officer", "assigned"), ("officer", "recused"), ("officer", "same_unit"),
        ("supervisor", "same_unit"), ("supervisor", "sub_unit"), ("supervisor", "above_clearance"),
        ("supervisor", "recused"), ("supervisor", "other_unit"))}
    assert _mine_badge(home[("officer", "assigned")]) == 2
    assert _mine_badge(home[("officer", "recused")]) == 0, "a recused officer's badge counts the cases about them"
    assert _mine_badge(home[("officer", "same_unit")]) == 0
    # R (due tomorrow) and P (intake decision due within days) for HUYEN's scope; O and OP for BTGTU.
    assert _due_badge(home[("supervisor", "same_unit")]) == 2
    assert _due_badge(home[("supervisor", "sub_unit")]) == 2
    assert _due_badge(home[("supervisor", "other_unit")]) == 2
    assert _due_badge(home[("supervisor", "above_clearance")]) == 0
    assert _due_badge(home[("supervisor", "recused")]) == 0
    tabs = _tab_badges(_list(s, ("officer", "assigned"), "mine"))
    assert tabs.get("Việc của tôi") == 2
    assert "Việc của tôi" not in _tab_badges(_list(s, ("officer", "recused"), "mine"))
    assert "Đến hạn · Quá hạn" not in _tab_badges(_list(s, ("supervisor", "above_clearance"), "mine"))


def test_a_recused_users_lists_do_not_show_the_case(scene):
    s = scene
    for who in (("officer", "recused"), ("supervisor", "recused")):
        for view in ("mine", "unit", "due"):
            body = _list(s, who, view)
            assert s.review_ref not in body and s.petition_ref not in body, (who, view)
    body = text_of(s.get(("liaison", "addressed_body"), "/requests/"))
    assert s.review_ref in body  # control: the addressed body's inbox lists Q
    body = text_of(s.get(("liaison", "recused"), "/requests/"))
    assert s.review_ref not in body, (
        "coordination.inbox must honour recusal: a recused liaison (citizen ID = the case subject's) sees the request "
        "about them in /requests/ (coordination.inbox filters clearance but not recusal)")


def test_subject_search_stays_in_scope(scene):
    s = scene
    found = text_of(s.get(("officer", "assigned"), "/subjects/", query_string={"q": OTHER_SUBJECT}))
    assert f"/subjects/{s.other_subject}" not in found and OTHER_SUBJECT_ID not in found
    found = text_of(s.get(("officer", "assigned"), "/subjects/", query_string={"q": OTHER_SUBJECT_ID}))
    assert f"/subjects/{s.other_subject}" not in found
    found = text_of(s.get(("supervisor", "sub_unit"), "/subjects/", query_string={"q": SUBJECT_NAME}))
    assert f"/subjects/{s.subject}" in found  # control: the parent unit's supervisor finds the district's
    found = text_of(s.get(("officer", "sub_unit"), "/subjects/", query_string={"q": SUBJECT_NAME}))
    assert f"/subjects/{s.subject}" not in found


def test_a_recused_user_does_not_find_their_own_dossier(scene):
    s = scene
    found = text_of(s.get(("officer", "recused"), "/subjects/", query_string={"q": SUBJECT_ID}))
    assert f"/subjects/{s.subject}" not in found, (
        "subjects.index must honour recusal: a recused officer (citizen ID = the subject's) finds the dossier about them by "
        "searching their own ID number (subject search and load_subject ignore recusal)")


def test_a_recused_officer_cannot_open_a_case_about_themselves(scene):
    """Rule 5: a person a case is about can never be assigned to it; opening a review
    assigns the opener."""
    s, officer = scene, ("officer", "recused")
    page = s.get(officer, "/cases/reviews/new", query_string={"subject": s.subject})
    with s.app.app_context():
        cases_before = db.session.scalar(select(func.count()).select_from(Case))
        db.session.commit()
    response = s.post(officer, "/cases/reviews/new", {
        "form_token": _hidden(page.get_data(as_text=True), "form_token"), "subject_id": s.subject,
        "purpose": "appointment", "classification": "confidential", "title": "Tự thẩm định"})
    with s.app.app_context():
        cases_after = db.session.scalar(select(func.count()).select_from(Case))
        db.session.commit()
    assert cases_after == cases_before and response.status_code in (200, 403, 404), (
        f"cases.new_review must honour recusal: a recused officer (citizen ID = the subject's) opened a review of their own "
        f"dossier and was assigned to it (status {response.status_code}); open_review ignores recusal")
    assert SUBJECT_NAME not in text_of(page), (
        "cases.new_review must honour recusal: ?subject=<own dossier> shows a recused officer the dossier's name "
        "(lists.form_subject ignores recusal)")


def test_exports_include_only_the_supervisors_scope(scene):
    s = scene
    for who, present, absent in ((("supervisor", "sub_unit"), SUBJECT_NAME, OTHER_SUBJECT),
                                 (("supervisor", "same_unit"), SUBJECT_NAME, OTHER_SUBJECT),
                                 (("supervisor", "other_unit"), OTHER_SUBJECT, SUBJECT_NAME)):
        response = s.get(who, "/subjects/export.csv")
        assert response.status_code == 200, who
        body = response.get_data(as_text=True)
        assert present in body and absent not in body, who


# --- 5: break-the-glass ----------------------------------------------------------------------------

def test_break_the_glass_from_offer_to_review(scene):
    s, officer = scene, ("officer", "same_unit")
    case_path = f"/cases/{s.review}"
    offer = s.get(officer, case_path)
    page = text_of(offer)
    assert offer.status_code == 403
    assert f'action="/cases/{s.review}/break-glass"' in page and 'name="reason"' in page
    assert s.review_ref in page and not leaked(page)

    short = s.post(officer, f"{case_path}/break-glass", {"reason": "cần xem gấp"})
    assert short.status_code == 200 and 'id="reason-errors"' in short.get_data(as_text=True)
    assert s.get(officer, case_path).status_code == 403

    seq = last_seq(s.app)
    granted = s.post(officer, f"{case_path}/break-glass", {"reason": REASON})
    assert granted.status_code == 302 and granted.headers["Location"] == case_path
    page = text_of(s.get(officer, case_path))
    assert TITLE in page and "mở khẩn cấp" in page
    assert [action for action, *_ in entries_after(s.app, seq, "case.break_glass")] == ["case.break_glass"]
    # Reading is not working.
    comment = s.post(officer, f"{case_path}/comments", {"body": "Ý kiến khi mở khẩn cấp"})
    assert comment.status_code == 403 and not leaked(text_of(comment))
    # The supervisor sees the flag on the case.
    assert "Hồ sơ đã được mở khẩn cấp" in text_of(s.get(("supervisor", "same_unit"), case_path))

    # Expiry.
    with s.app.app_context():
        db.session.execute(update(BreakGlassAccess).where(BreakGlassAccess.case_id == uuid.UUID(s.review))
                           .values(expires_at=text("'2000-01-01 00:00:00.000000'")))
        db.session.commit()
    expired = s.get(officer, case_path)
    assert expired.status_code == 403 and TITLE not in text_of(expired)

    # The auditor's queue: the reason, never the case.
    auditor = ("auditor", "-")
    queue = text_of(s.get(auditor, "/access/break-glass"))
    assert REASON in queue and s.review_ref in queue and TITLE not in queue
    with s.app.app_context():
        access_id = db.session.scalar(select(BreakGlassAccess.id).where(
            BreakGlassAccess.case_id == uuid.UUID(s.review)))
        db.session.commit()
    seq = last_seq(s.app)
    reviewed = s.post(auditor, f"/access/break-glass/{access_id}/review", {"decision": "justified"})
    assert reviewed.status_code == 302
    assert REASON not in text_of(s.get(auditor, "/access/break-glass"))  # left the pending queue
    assert REASON in text_of(s.get(auditor, "/access/break-glass", query_string={"show": "all"}))
    review_entries = entries_after(s.app, seq, "break_glass.review")
    assert [detail.get("decision") for _action, detail, _actor in review_entries] == ["justified"]
    # Auditors and admins never see the case content.
    for who in (auditor, ("admin", "-")):
        response = s.get(who, case_path)
        assert response.status_code == 403 and not leaked(text_of(response))


def test_break_the_glass_is_refused_outside_the_unit_or_clearance(scene):
    s = scene
    for who in (("officer", "other_unit"), ("officer", "above_clearance"), ("officer", "sub_unit"),
                ("officer", "recused")):
        response = s.post(who, f"/cases/{s.review}/break-glass", {"reason": REASON})
        assert response.status_code == 404, who
        assert not leaked(text_of(response), s.review_ref), who
    with s.app.app_context():
        assert db.session.scalar(select(func.count()).select_from(BreakGlassAccess).where(
            BreakGlassAccess.case_id == uuid.UUID(s.review))) == 0
        db.session.commit()


# --- 6: every denial is audited ----------------------------------------------------------------------

def test_a_denial_is_audited_with_its_status_and_shows_nothing(scene):
    s = scene
    for who, path, status in ((("officer", "other_unit"), f"/cases/{s.review}", 404),
                              (("officer", "same_unit"), f"/cases/{s.review}/comments", 403),
                              (("liaison", "addressed_body"), f"/cases/{s.review}", 403),
                              (("supervisor", "recused"), f"/cases/{s.petition}/petitioner", 404)):
        seq = last_seq(s.app)
        response = s.get(who, path) if not path.endswith("comments") else s.post(who, path, {"body": "x"})
        assert response.status_code == status, (who, path)
        body = text_of(response)
        assert not leaked(body, s.review_ref if status == 404 else "")
        denials = entries_after(s.app, seq, "access.denied")
        assert [(detail["status"], actor) for _action, detail, actor in denials] == [
            (status, s.user_ids[who])], (who, path)
