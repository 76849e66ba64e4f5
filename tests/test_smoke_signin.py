from tests.conftest import post_form


def test_officer_signs_in_and_reaches_home(client, make_user, sign_in):
    user = make_user("officer")
    response = sign_in(user)
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    page = client.get("/").get_data(as_text=True)
    assert "Xin chào" in page


def test_supervisor_needs_second_factor(client, make_user, sign_in):
    user = make_user("supervisor")
    response = sign_in(user, with_code=False)
    assert response.headers["Location"] == "/login/second-factor"
    assert client.get("/").status_code == 303
    response = sign_in(user)
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused(client, make_user):
    user = make_user("officer")
    response = post_form(client, "/login", {"username": user.username, "password": "wrong-password-123"})
    assert response.status_code == 200
    assert "không đúng" in response.get_data(as_text=True)
