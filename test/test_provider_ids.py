"""Issue and comment ids in a path are the provider's numbers or nothing: odd digits are a 404, never a crash."""

import pytest

from api.trackers.base import TrackerNotFound, numeric_id

ODD = ["²", "١٢", "1e3", "-1", " 1", "1\n", "", "9" * 40]


@pytest.mark.parametrize("value", ODD)
def test_anything_but_plain_ascii_digits_is_not_found(value):
    with pytest.raises(TrackerNotFound):
        numeric_id(value)


def test_plain_digits_within_the_bound_are_the_number():
    assert numeric_id("42") == 42
    assert numeric_id(str(2**31 - 1)) == 2**31 - 1
    with pytest.raises(TrackerNotFound, match="Comment 2147483648"):
        numeric_id(str(2**31), what="Comment")
    assert numeric_id(str(2**31), bits=63) == 2**31


@pytest.mark.parametrize("value", ["²", "١٢"])
def test_a_unicode_digit_issue_id_on_a_remote_tracker_is_404(client, github, value):
    response = client.get(f"/api/v1/trackers/{github['tracker']['id']}/issues/{value}", headers=github["user"].headers)
    assert response.status_code == 404 and response.get_json()["error"] == "issue_not_found"


class _Answer:
    def __init__(self, **headers):
        self.headers = headers


@pytest.mark.parametrize("value", ["²", "١٢"])
def test_paging_headers_with_odd_digits_from_a_tracker_end_the_listing_instead_of_crashing(value):
    from api.trackers.providers.gitea import GiteaProvider
    from api.trackers.providers.gitlab import GitlabProvider

    assert GitlabProvider._next(_Answer(**{"X-Next-Page": value})) is None
    assert GiteaProvider._has_next(_Answer(**{"X-Total-Count": value}), 1, 20, 20) is False
    assert GitlabProvider._next(_Answer(**{"X-Next-Page": "3"})) is not None
    assert GiteaProvider._has_next(_Answer(**{"X-Total-Count": "41"}), 2, 20, 20) is True
