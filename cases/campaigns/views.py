"""Campaign pages: the list, the board, nominees, reuse, reviews, hand-out, summary (issue 20 §A).

Thin views: load and authorise in one step (operations.load_campaign: 404 for a campaign the
user may not know, 403 for one they see but may not change), validate, call one operation.
A refusal of a form with fields goes beside the field it names with the input kept; the
board's bulk actions are buttons over ticked rows: each redirects back to the board with a
flash saying what was done (counts), or why nothing was (rolled back).
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from audit.trail import record
from cases.actions import REFUSALS, run
from cases.campaigns import choices, exports
from cases.campaigns import operations as campaigns
from cases.campaigns.forms import (
    BoardFilterForm,
    BulkForm,
    CampaignForm,
    CloseForm,
    DossierSearchForm,
    NomineeFileForm,
    SummaryPrintForm,
    chosen_ids,
    problem_text,
)
from cases.campaigns.operations import BoardFilters, CampaignData, CampaignError
from cases.casework import operations as casework
from cases.casework.forms import new_form_token, uuid_in
from cases.printing.operations import MAX_COPIES, PrintFailed
from cases.subjects import name_search
from cases.subjects import operations as subjects
from cases.subjects.roster import NOMINEE_COLUMNS, RosterFileError, decode, parse_roster
from cases.workflow import campaign_purposes_on
from protection import paging, policy
from protection.db import db
from protection.errors import render_error
from protection.forms import press, show_error
from protection.marking import mark_page_classification
from protection.policy import permission
from protection.web import signed_in_user

campaigns_bp = Blueprint("campaigns", __name__, url_prefix="/campaigns")

# An operation may name the unit field by the model's name or the data's.
FIELD_ALIASES = {"owner_unit": "owner_unit_id", "unit": "owner_unit_id", "unit_id": "owner_unit_id", "due": "due_on"}


def _board_url(campaign, **changes):
    """Back to the board with the filters the bulk form carried (never the name searched)."""
    kept = {name: request.form.get(name) for name in ("state", "unit", "overdue", "page") if request.form.get(name)}
    return url_for("campaigns.board", campaign_id=campaign.id, **{**kept, **changes})


def _to_board(campaign):
    return redirect(_board_url(campaign))


# --- the list and a new campaign ------------------------------------------------------------------

@campaigns_bp.route("/")
@permission("campaign.view")
def index():
    user = signed_in_user()
    found = campaigns.campaigns_for(user)
    record("campaign.list", target_type="campaign", count=len(found))
    mark_page_classification(*(campaign.classification for campaign in found))
    manage = policy.can(user, "campaign.manage")
    # Supervisors see how long each list is; an officer sees the campaigns of their own rows.
    return render_template("campaigns/index.html", campaigns=found, today=casework.today(), can_manage=manage,
                           counts=choices.nominee_counts(found, user) if manage else None)


def _campaign_data(form: CampaignForm) -> CampaignData:
    return CampaignData(purpose=form.purpose.data, title=(form.title.data or "").strip(),
                        owner_unit_id=uuid_in(form.owner_unit_id.data), due_on=form.due_on.parsed,
                        classification=form.classification.data)


def _named_field(change):
    """Run `change`; a refusal naming the unit by another name still lands beside it."""
    try:
        return change()
    except CampaignError as error:
        error.field = FIELD_ALIASES.get(error.field, error.field)
        raise


@campaigns_bp.route("/new", methods=["GET", "POST"])
@permission("campaign.manage")
def create():
    user = signed_in_user()
    form = CampaignForm(user=user, purposes=campaign_purposes_on(casework.today()),
                        units=choices.units_in_scope(user))
    if request.method == "GET":
        form.form_token.data = new_form_token()
        form.owner_unit_id.data = str(user.unit_id)
    if form.validate_on_submit():
        earlier = casework.earlier_submission(form.form_token.data, user)
        if earlier is not None and earlier.target_type == "campaign":
            flash(_("Biểu mẫu này đã được gửi: đợt thẩm định đã được tạo từ lần gửi trước, không tạo thêm."), "info")
            return redirect(url_for("campaigns.board", campaign_id=earlier.target_id))

        def created(campaign):
            casework.remember_submission(form.form_token.data, user, "campaign", campaign.id)
            return redirect(url_for("campaigns.board", campaign_id=campaign.id))

        done = run(form, lambda: _named_field(lambda: campaigns.create_campaign(_campaign_data(form), by=user)),
                   lambda campaign: _("Đã tạo đợt thẩm định %(reference)s.", reference=campaign.reference), created)
        if done:
            return done
    form.form_token.data = form.form_token.data or new_form_token()
    return render_template("campaigns/new.html", form=form)


# --- the board -----------------------------------------------------------------------------------

@campaigns_bp.route("/<uuid:campaign_id>")
@permission("campaign.view")
def board(campaign_id: uuid.UUID):
    user = signed_in_user()
    campaign = campaigns.load_campaign(campaign_id)
    units = choices.working_units(campaign, user)
    form = BoardFilterForm(request.args, units=units)
    number = paging.page_number(request.args)
    found = None
    if form.validate():
        found = campaigns.board(campaign, user, BoardFilters(
            state=form.state.data or None, unit_id=uuid_in(form.unit.data), overdue=bool(form.overdue.data),
            query=(form.q.data or "").strip() or None, page=number))
        campaigns.record_board_view(campaign, page=found.page, shown=len(found.rows))
    else:
        campaigns.record_board_view(campaign, page=number, shown=0)  # the title is shown still
    mark_page_classification(campaign.classification)
    # The bulk actions: the campaign's owners, and the supervisors of a unit rows were handed
    # to (each row is checked again by the operations).
    manage = policy.can(user, "campaign.manage") and campaign.state == "open"
    context = {}
    if manage:
        context = {"bulk": BulkForm(formdata=None, prefix="bulk", units_below=choices.units_below(campaign, units),
                                    groups=units), "officers": choices.officers(units)}
    page = paging.Page(rows=found.rows, total=found.total, page=found.page, pages=found.pages) if found else None
    # A row's case is a link where the user's scope holds the unit working it (an officer
    # sees only the rows they work); the case page makes its own check, so a link it
    # refuses is a refusal page, never content.
    return render_template("campaigns/board.html", campaign=campaign, form=form, found=found, page=page,
                           manage=manage, owner=policy.owns_campaign(user, campaign), today=casework.today(),
                           linked_units=policy.unit_scope(user), **context)


# --- bulk actions over the ticked rows --------------------------------------------------------------

def _bulk(campaign_id: uuid.UUID, change, done):
    """Load (managers only), check the form, run `change(campaign, form, nominee_ids)`, back to
    the board with what was done or why not (nothing changed: rolled back)."""
    user = signed_in_user()
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    units = choices.working_units(campaign, user)
    form = BulkForm(prefix="bulk", units_below=choices.units_below(campaign, units), groups=units)
    form.working_units = units
    if not form.validate_on_submit():
        if form.csrf_token.errors or not form.is_submitted():
            abort(400)
        for field in form:
            for error in field.errors:
                flash(f"{field.label.text}: {error}", "danger")
        return _to_board(campaign)
    nominee_ids = chosen_ids(request.form.getlist("nominee"))
    if not nominee_ids:
        flash(_("Hãy đánh dấu ít nhất một nhân sự trong danh sách."), "danger")
        return _to_board(campaign)
    return press(lambda: change(campaign, form, nominee_ids), REFUSALS, to=lambda _result: _to_board(campaign),
                 done=done, rollback=True)


def _chosen_officers(form) -> list[uuid.UUID]:
    """The officers ticked, or every officer of the chosen group's unit ("evenly across a
    group"); a refusal when neither."""
    ticked = chosen_ids(request.form.getlist("officer"))
    group = uuid_in(form.group.data)
    if group is not None:
        ticked += [officer.id for officer in choices.officers([unit for unit in form.working_units
                                                               if unit.id == group])
                   if officer.id not in ticked]
    if not ticked:
        raise CampaignError(_("Hãy chọn cán bộ, hoặc một đơn vị để chia đều cho cán bộ của đơn vị đó."), "officer")
    return ticked


@campaigns_bp.route("/<uuid:campaign_id>/reuse", methods=["POST"])
@permission("campaign.manage")
def reuse(campaign_id: uuid.UUID):
    def change(campaign, _form, ids):
        return campaigns.reuse_conclusions(campaign, ids, by=current_user), len(ids)

    return _bulk(campaign_id, change, lambda result: ngettext(
        "Đã dùng lại kết luận còn hiệu lực cho %(num)d nhân sự (trong %(chosen)d người được chọn).",
        "Đã dùng lại kết luận còn hiệu lực cho %(num)d nhân sự (trong %(chosen)d người được chọn).",
        result[0], chosen=result[1]))


@campaigns_bp.route("/<uuid:campaign_id>/open-reviews", methods=["POST"])
@permission("campaign.manage")
def open_reviews(campaign_id: uuid.UUID):
    def change(campaign, form, ids):
        officers = _chosen_officers(form)
        return campaigns.open_reviews(campaign, ids, officers, by=current_user, due_on=form.due_on.parsed), len(ids)

    return _bulk(campaign_id, change, lambda result: ngettext(
        "Đã mở %(num)d hồ sơ thẩm định (trong %(chosen)d người được chọn), phân công đều cho cán bộ đã chọn.",
        "Đã mở %(num)d hồ sơ thẩm định (trong %(chosen)d người được chọn), phân công đều cho cán bộ đã chọn.",
        result[0], chosen=result[1]))


@campaigns_bp.route("/<uuid:campaign_id>/assign", methods=["POST"])
@permission("campaign.manage")
def assign(campaign_id: uuid.UUID):
    replace = request.form.get("replace") == "1"

    def change(campaign, form, ids):
        return campaigns.assign_officers(campaign, ids, _chosen_officers(form), by=current_user,
                                         replace=replace)

    return _bulk(campaign_id, change, lambda count: (
        ngettext("Đã phân công lại %(num)d hồ sơ.", "Đã phân công lại %(num)d hồ sơ.", count) if replace
        else ngettext("Đã phân công %(num)d hồ sơ.", "Đã phân công %(num)d hồ sơ.", count)))


@campaigns_bp.route("/<uuid:campaign_id>/hand-out", methods=["POST"])
@permission("campaign.manage")
def hand_out(campaign_id: uuid.UUID):
    def change(campaign, form, ids):
        below = choices.units_below(campaign, form.working_units)
        unit = next((unit for unit in below if str(unit.id) == form.unit.data), None)
        if unit is None:
            raise CampaignError(_("Hãy chọn đơn vị cấp dưới để giao nhân sự."), "unit")
        return campaigns.hand_to_unit(campaign, ids, unit, by=current_user), unit.code

    return _bulk(campaign_id, change, lambda result: ngettext(
        "Đã giao %(num)d nhân sự cho %(unit)s thẩm định.", "Đã giao %(num)d nhân sự cho %(unit)s thẩm định.",
        result[0], unit=result[1]))


@campaigns_bp.route("/<uuid:campaign_id>/close", methods=["POST"])
@permission("campaign.manage")
def close(campaign_id: uuid.UUID):
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    if not CloseForm().validate_on_submit():
        abort(400)
    return press(lambda: campaigns.close_campaign(campaign, by=current_user), REFUSALS,
                 to=lambda _result: _to_board(campaign), done=_("Đã kết thúc đợt thẩm định."), rollback=True)


# --- adding nominees ----------------------------------------------------------------------------------

def _nominees_page(campaign, upload: NomineeFileForm, problems=(), status: int = 200):
    search = DossierSearchForm(request.args)
    query = (search.q.data or "").strip()
    found = None
    if query and search.validate():
        found = subjects.search_subjects(current_user, query)
        if found.too_common:
            show_error(search, name_search.too_common_message(), "q")
    mark_page_classification(campaign.classification)
    return render_template("campaigns/nominees.html", campaign=campaign, upload=upload, problems=problems,
                           search=search, found=found, columns=NOMINEE_COLUMNS, problem_text=problem_text), status


@campaigns_bp.route("/<uuid:campaign_id>/nominees", methods=["GET", "POST"])
@permission("campaign.manage")
def nominees(campaign_id: uuid.UUID):
    user = signed_in_user()
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    upload = NomineeFileForm()
    if not upload.validate_on_submit():
        return _nominees_page(campaign, upload)
    try:
        parsed = parse_roster(decode(upload.file.data.read()), today=casework.today(), required=NOMINEE_COLUMNS)
    except RosterFileError as error:
        show_error(upload, _("Không đọc được tệp: %(reason)s", reason=problem_text(str(error))), "file")
        return _nominees_page(campaign, upload)
    problems = sorted([*parsed.problems, *campaigns.nominee_problems(campaign, parsed.rows, by=user)],
                      key=lambda problem: problem.line)
    if problems and not upload.skip_invalid.data:
        show_error(upload, ngettext("Tệp có %(num)d lỗi (liệt kê theo dòng bên dưới); chưa thêm ai. Hãy sửa tệp, "
                                    "hoặc đánh dấu “bỏ qua các dòng không hợp lệ”.",
                                    "Tệp có %(num)d lỗi (liệt kê theo dòng bên dưới); chưa thêm ai. Hãy sửa tệp, "
                                    "hoặc đánh dấu “bỏ qua các dòng không hợp lệ”.", len(problems)), "file")
        return _nominees_page(campaign, upload, problems)
    refused = {problem.line for problem in problems}
    rows = [row for row in parsed.rows if row.line not in refused]

    def added(result):
        return _("Đã thêm %(added)d nhân sự (%(matched)d khớp hồ sơ có sẵn, %(created)d hồ sơ mới); %(already)d đã có "
                 "trong đợt; bỏ qua %(skipped)d dòng lỗi.", added=result.added, matched=result.matched,
                 created=result.created, already=result.already, skipped=len(refused))

    done = run(upload, lambda: campaigns.add_nominees_from_roster(campaign, rows, by=user), added,
               lambda _result: redirect(url_for("campaigns.board", campaign_id=campaign.id)))
    return done or _nominees_page(campaign, upload, problems)


@campaigns_bp.route("/<uuid:campaign_id>/nominees/pick", methods=["POST"])
@permission("campaign.manage")
def pick(campaign_id: uuid.UUID):
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    if not CloseForm().validate_on_submit():  # the CSRF token only
        abort(400)
    chosen = chosen_ids(request.form.getlist("subject"))
    back = url_for("campaigns.nominees", campaign_id=campaign.id)
    if not chosen:
        flash(_("Hãy đánh dấu ít nhất một hồ sơ đối tượng."), "danger")
        return redirect(back)
    return press(lambda: campaigns.add_nominees_from_dossiers(campaign, chosen, by=current_user), REFUSALS,
                 to=lambda _result: redirect(url_for("campaigns.board", campaign_id=campaign.id)),
                 back=lambda: redirect(back), rollback=True,
                 done=lambda result: _("Đã thêm %(added)d nhân sự; %(already)d đã có trong đợt.",
                                       added=result.added, already=result.already))


# --- the summary: XLSX, print, register -------------------------------------------------------------

@campaigns_bp.route("/<uuid:campaign_id>/summary.xlsx")
@permission("campaign.manage")
def summary_xlsx(campaign_id: uuid.UUID):
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    body = exports.export_xlsx(campaign, signed_in_user())
    return _download(body, exports.XLSX_TYPE, exports.file_name(campaign, "xlsx"))


def _download(body: bytes, mimetype: str, filename: str) -> Response:
    response = Response(body, mimetype=mimetype)
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    response.headers["Content-Length"] = str(len(body))
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@campaigns_bp.route("/<uuid:campaign_id>/print", methods=["GET", "POST"])
@permission("campaign.manage")
def print_summary(campaign_id: uuid.UUID):
    user = signed_in_user()
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    form = SummaryPrintForm()
    if request.method == "GET":
        form.form_token.data = new_form_token()
        form.copies.data = "1" if campaign.classification == "unclassified" else ""
    if form.validate_on_submit():
        earlier = casework.earlier_submission(form.form_token.data, user)
        if earlier is not None and earlier.target_type == "campaign_print":
            issued = exports.issued_by(earlier.target_id)
            flash(_("Biểu mẫu này đã được gửi: các bản số %(first)d–%(last)d đã được in và ghi sổ.",
                    first=issued.first_number, last=issued.last_number), "info")
            return redirect(url_for("campaigns.prints", campaign_id=campaign.id))

        def issued(printed):
            casework.remember_submission(form.form_token.data, user, "campaign_print", printed.record.id)
            return _download(printed.pdf, "application/pdf", exports.file_name(campaign, "pdf"))

        try:
            done = run(form, lambda: exports.print_summary(campaign, user, form.parsed), None, issued)
        except PrintFailed:
            db.session.rollback()
            return render_error(500, _("Không tạo được bản in. Không bản nào được cấp số hay ghi sổ. "
                                       "Hãy báo mã tham chiếu cho quản trị viên."))
        if done:
            return done
    form.form_token.data = form.form_token.data or new_form_token()
    exports.record_register_view(campaign, page="print_form")
    mark_page_classification(campaign.classification)
    return render_template("campaigns/print.html", campaign=campaign, form=form, rows=exports.register(campaign),
                           max_copies=MAX_COPIES)


@campaigns_bp.route("/<uuid:campaign_id>/prints")
@permission("campaign.manage")
def prints(campaign_id: uuid.UUID):
    campaign = campaigns.load_campaign(campaign_id, "campaign.manage")
    rows = exports.register(campaign)
    exports.record_register_view(campaign, page="register")
    mark_page_classification(campaign.classification)
    return render_template("campaigns/prints.html", campaign=campaign, rows=rows)

