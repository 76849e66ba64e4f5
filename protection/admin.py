"""User and unit administration. Admins manage accounts; they never reach case content."""

from __future__ import annotations

import uuid

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from . import (
    accounts,
    admin_queries,
    api_tokens,
    directory_requests,
    paging,
    security_keys,
    signals,
)
from .accounts import AccountError, NewUser
from .forms import (
    ConfirmForm,
    DirectoryConfirmForm,
    UnitForm,
    UserForm,
    press,
    require_submitted,
    submit_form,
)
from .identity import User
from .policy import can_change_user_status, permission

admin = Blueprint("admin", __name__, url_prefix="/admin")


def _load_user(user_id: uuid.UUID) -> User:
    user = admin_queries.user_by_id(user_id)
    if user is None:
        abort(404)
    return user


def _user_form(**kwargs) -> UserForm:
    form = UserForm(units=admin_queries.active_units(), **kwargs)
    # accounts checks unit, role and clearance and names the field in Vietnamese;
    # WTForms' own choice check would answer in English ("Not a valid choice.").
    for field in (form.unit, form.role, form.clearance):
        field.validate_choice = False
    return form


@admin.route("/users")
@permission("users.manage")
def users():
    sort = paging.sort_choice(request.args, admin_queries.USER_SORTS, paging.Sort("username"))
    page = admin_queries.users_page(sort, paging.page_number(request.args))
    # The list shows every person's name: a read of personal data, audited (issue 4).
    signals.record_viewed.send(current_app._get_current_object(), target_type="user", target_id=None,
                               action="user.list", count=len(page.rows))
    return render_template("admin/users.html", users=page.rows, page=page, sorting=sort,
                           key_counts=security_keys.key_counts(user.id for user in page.rows),
                           key_roles=current_app.config["HOSO_REQUIRE_SECURITY_KEY_ROLES"])


@admin.route("/users/new", methods=["GET", "POST"])
@permission("users.manage")
def create_user():
    form = _user_form()

    def create():
        user, temporary = accounts.create_user(
            NewUser(form.username.data, form.display_name.data, form.unit.data, form.role.data, form.clearance.data),
            password=None, by=current_user, must_change_password=True,
        )
        accounts.set_citizen_id(user, form.citizen_id.data, by=current_user)
        return user, temporary

    # A refusal rolls back: the account may have been made before its citizen id was refused.
    done = submit_form(form, create, AccountError, rollback=True, to=lambda made: render_template(
        "admin/temporary_password.html", user=made[0], temporary_password=made[1], created=True))
    return done or render_template("admin/user_form.html", form=form, user=None)


@admin.route("/users/<uuid:user_id>", methods=["GET", "POST"])
@permission("users.manage")
def edit_user(user_id: uuid.UUID):
    user = _load_user(user_id)
    form = _user_form(editing=True, obj=None)
    if not form.is_submitted():
        form.display_name.data = user.display_name
        form.unit.data = user.unit.code
        form.role.data = user.role.value
        form.clearance.data = user.clearance.value
        signals.record_viewed.send(current_app._get_current_object(), target_type="user", target_id=user.id,
                                   action="user.view")

    def update():
        return accounts.update_user(
            user, by=current_user, display_name=form.display_name.data,
            unit_code=form.unit.data, role=form.role.data, clearance=form.clearance.data,
        ) + (("citizen_index",) if accounts.set_citizen_id(user, form.citizen_id.data, by=current_user) else ())

    done = submit_form(form, update, AccountError, rollback=True, to=lambda _changed: _to_user(user),
                       done=lambda changed: _("Đã lưu thay đổi.") if changed else _("Không có gì thay đổi."))
    # A partner system's account (issue 21): no password or second factor to reset, and
    # once its client is revoked it stays disabled (accounts refuses; the page says why).
    return done or render_template("admin/user_form.html", form=form, user=user, confirm_form=ConfirmForm(),
                                   can_change_status=can_change_user_status(current_user, user),
                                   api_client=api_tokens.client_of(user), keys=security_keys.keys_of(user),
                                   key_required=security_keys.required_for(user))


def _confirmed_action(user_id: uuid.UUID):
    require_submitted(ConfirmForm())
    return _load_user(user_id)


def _to_user(user: User):
    return redirect(url_for("admin.edit_user", user_id=user.id))


@admin.route("/users/<uuid:user_id>/disable", methods=["POST"])
@permission("users.manage")
def disable_user(user_id: uuid.UUID):
    user = _confirmed_action(user_id)
    return press(lambda: accounts.set_user_active(user, by=current_user, active=False), AccountError,
                 done=_("Đã khóa tài khoản và kết thúc mọi phiên đăng nhập của tài khoản đó."),
                 to=lambda _result: _to_user(user))


@admin.route("/users/<uuid:user_id>/enable", methods=["POST"])
@permission("users.manage")
def enable_user(user_id: uuid.UUID):
    user = _confirmed_action(user_id)
    return press(lambda: accounts.set_user_active(user, by=current_user, active=True), AccountError,
                 done=_("Đã mở lại tài khoản."), to=lambda _result: _to_user(user))


@admin.route("/users/<uuid:user_id>/reset-password", methods=["POST"])
@permission("users.manage")
def reset_password(user_id: uuid.UUID):
    user = _confirmed_action(user_id)
    return press(lambda: accounts.reset_password(user, by=current_user), AccountError,
                 to=lambda temporary: render_template("admin/temporary_password.html", user=user,
                                                      temporary_password=temporary, created=False),
                 back=lambda: _to_user(user))


@admin.route("/users/<uuid:user_id>/reset-two-factor", methods=["POST"])
@permission("users.manage")
def reset_two_factor(user_id: uuid.UUID):
    user = _confirmed_action(user_id)
    return press(lambda: accounts.reset_second_factor(user, by=current_user), AccountError,
                 done=_("Đã gỡ xác thực hai lớp. Người dùng sẽ thiết lập lại ở lần đăng nhập tới."),
                 to=lambda _result: _to_user(user))


@admin.route("/users/<uuid:user_id>/reset-security-keys", methods=["POST"])
@permission("users.manage")
def reset_security_keys(user_id: uuid.UUID):
    user = _confirmed_action(user_id)
    return press(lambda: accounts.reset_security_keys(user, by=current_user), AccountError,
                 done=lambda count: _("Đã gỡ %(n)d khóa bảo mật và kết thúc mọi phiên của người dùng.", n=count),
                 to=lambda _result: _to_user(user))


@admin.route("/units", methods=["GET", "POST"])
@permission("units.manage")
def units():
    form = UnitForm(units=admin_queries.all_units())
    for field in (form.kind, form.parent):  # checked by accounts.create_unit, in Vietnamese
        field.validate_choice = False
    added = submit_form(form, lambda: accounts.create_unit(
        code=form.code.data, name=form.name.data, kind=form.kind.data, parent_code=form.parent.data or None,
        by=current_user), AccountError, done=lambda unit: _("Đã thêm đơn vị %(code)s.", code=unit.code),
        to=lambda _unit: redirect(url_for("admin.units")))
    if added:
        return added
    sort = paging.sort_choice(request.args, admin_queries.UNIT_SORTS, paging.Sort("code"))
    page = admin_queries.units_page(sort, paging.page_number(request.args))
    return render_template("admin/units.html", units=page.rows, page=page, sorting=sort, form=form)


# --- directory users awaiting confirmation (issue 23) ------------------------------------

def _load_directory_request(directory_request_id: uuid.UUID):
    request_row = directory_requests.by_id(directory_request_id)
    if request_row is None:
        abort(404)
    return request_row


@admin.route("/directory")
@permission("users.manage")
def directory_requests_list():
    rows = directory_requests.pending()
    # Usernames and names of people: a read of personal data, audited as the users list is.
    signals.record_viewed.send(current_app._get_current_object(), target_type="directory_request",
                               target_id=None, action="directory_request.list", count=len(rows))
    return render_template("admin/directory_requests.html", requests=rows, directory_on=bool(
        current_app.config["HOSO_LDAP_URL"]))


@admin.route("/directory/<uuid:directory_request_id>", methods=["GET", "POST"])
@permission("users.manage")
def confirm_directory_request(directory_request_id: uuid.UUID):
    request_row = _load_directory_request(directory_request_id)
    form = DirectoryConfirmForm(units=admin_queries.active_units())
    if not form.is_submitted():
        signals.record_viewed.send(current_app._get_current_object(), target_type="directory_request",
                                   target_id=request_row.id, action="directory_request.view")
    done = submit_form(form, lambda: directory_requests.confirm(
        request_row, unit_code=form.unit.data, clearance=form.clearance.data, by=current_user),
        AccountError, rollback=True, to=_to_user,
        done=_("Đã tạo tài khoản cho người dùng thư mục. Người đó đăng nhập bằng mật khẩu thư mục của mình."))
    return done or render_template("admin/directory_request.html", request_row=request_row, form=form,
                                   confirm_form=ConfirmForm())


@admin.route("/directory/<uuid:directory_request_id>/refuse", methods=["POST"])
@permission("users.manage")
def refuse_directory_request(directory_request_id: uuid.UUID):
    require_submitted(ConfirmForm())
    request_row = _load_directory_request(directory_request_id)
    return press(lambda: directory_requests.refuse(request_row, by=current_user), AccountError,
                 done=_("Đã từ chối yêu cầu; người này không đăng nhập được vào Hoso."),
                 to=lambda _result: redirect(url_for("admin.directory_requests_list")))
