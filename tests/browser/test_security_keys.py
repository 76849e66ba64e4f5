"""Security keys in Chromium (issue 23), with its virtual authenticator (DevTools WebAuthn
domain): a supervisor registers a key, signs in with it, approves a conclusion with it
(user verification included), and a key the account does not know signs nothing in, while
the TOTP app still does. The key is removed at the end: the demo stays as other tests meet it.

The page opens the server as http://localhost:PORT: WebAuthn needs a secure context
(HTTPS, or localhost) and a host name, never an IP address, as the relying party's id."""

from __future__ import annotations

from playwright.sync_api import expect

from tests.browser.demo import SUPERVISOR
from tests.browser.live_server import DEMO_PASSWORD

PETITION = "Đơn phản ánh sinh hoạt chi bộ không đúng quy định"  # waiting for lanhdao.minh
AUTHENTICATOR = {"protocol": "ctap2", "transport": "usb", "hasResidentKey": True, "hasUserVerification": True,
                 "isUserVerified": True, "automaticPresenceSimulation": True}


def _plug_in_key(page) -> tuple[object, str]:
    devtools = page.context.new_cdp_session(page)
    devtools.send("WebAuthn.enable", {"enableUI": False})
    added = devtools.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return devtools, added["authenticatorId"]


def _password_step(page) -> None:
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(SUPERVISOR)
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Xác thực hai lớp")


def _sign_out(page) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng xuất").click()


def test_a_key_registers_signs_in_and_approves_and_a_stranger_key_does_not(pages, server, sign_in):
    page = pages.new(host="localhost")
    devtools, authenticator = _plug_in_key(page)
    sign_in(page, SUPERVISOR)

    page.goto("/account/security-keys")
    page.get_by_label("Tên khóa").fill("Khóa thử nghiệm")
    page.get_by_label("Mật khẩu hiện tại").fill(DEMO_PASSWORD)
    page.wait_for_load_state()  # security-keys.js has bound its buttons (a click before does nothing)
    with page.expect_navigation():
        page.get_by_role("button", name="Thêm khóa bảo mật").click()
    expect(page.get_by_role("status").filter(has_text="Đã thêm khóa bảo mật")).to_be_visible()
    expect(page.locator("[data-security-key-list]")).to_contain_text("Khóa thử nghiệm")

    _sign_out(page)
    _password_step(page)
    page.wait_for_load_state()  # security-keys.js has bound its buttons (a click before does nothing)
    with page.expect_navigation():
        page.get_by_role("button", name="Đăng nhập bằng khóa bảo mật").click()
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()

    page.goto("/cases/?view=approval")
    page.get_by_role("row").filter(has_text=PETITION).get_by_role("link").first.click()
    page.get_by_role("link", name="Xem xét, phê duyệt").click()
    page.wait_for_load_state()  # security-keys.js has bound its buttons (a click before does nothing)
    with page.expect_navigation():
        page.get_by_role("button", name="Dùng khóa bảo mật").click()  # the confirmation is accepted
    expect(page.get_by_role("status").filter(has_text="Đã phê duyệt kết luận số")).to_be_visible()
    assert pages.dialogs[-1].startswith("Phê duyệt kết luận này?")

    # Another key (the registered one unplugged): the browser finds no key of this account,
    # the page says so, and the sign-in waits; the TOTP app still completes it.
    devtools.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": authenticator})
    devtools.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    _sign_out(page)
    _password_step(page)
    page.wait_for_load_state()  # security-keys.js has bound its buttons (a click before does nothing)
    page.get_by_role("button", name="Đăng nhập bằng khóa bảo mật").click()
    expect(page.locator("[data-security-key-status]")).to_have_text(
        "Không xác nhận được bằng khóa bảo mật. Hãy thử lại, hoặc dùng cách khác.")
    assert page.url.endswith("/login/second-factor")
    page.locator("#code").fill(server.totp_code(SUPERVISOR))
    with page.expect_navigation():
        page.locator("#code").press("Enter")
    expect(page.get_by_role("button", name="Đăng xuất")).to_be_visible()

    page.goto("/account/security-keys")
    page.get_by_label("Mật khẩu hoặc mã xác thực 6 số").fill(DEMO_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Gỡ khóa").click()
    expect(page.get_by_text("Bạn chưa đăng ký khóa bảo mật nào.")).to_be_visible()
