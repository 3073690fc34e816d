"""The web page's people: who they are (`users`: names, password hashes, roles, the users
file) and how a password is checked (`passwords`). Settings read them; the page signs
them in. Everywhere the service records a person of the page, it is `web:<name>`."""

WEB_USER_PREFIX = "web:"  # how a web user's name is recorded: web:<name>


def web_user(name: str) -> str:
    return WEB_USER_PREFIX + name
