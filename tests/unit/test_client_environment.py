# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The client honours the proxy settings of its environment as requests does: HTTP(S)_PROXY and NO_PROXY.

The client reads them once, when it is made, instead of for every request (see MoodleClient's
_settings_from_environment); what a user sets must still apply to every call.
"""

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient, MoodleError
from tests.unit.http_fixtures import StubMoodle

SITE_INFO = 'core_webservice_get_site_info'
PROXY_VARIABLES = ('http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY',
                   'no_proxy', 'NO_PROXY')


@pytest.fixture
def servers(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with StubMoodle() as moodle, StubMoodle() as proxy:
        moodle.on(SITE_INFO, lambda params: {'siteid': 1, 'functions': []})
        yield moodle, proxy


def test_every_call_goes_through_the_proxy_the_environment_names(servers, monkeypatch):
    moodle, proxy = servers
    monkeypatch.setenv('HTTP_PROXY', proxy.url)
    client = MoodleClient(moodle.url, moodle.token, retries=0)
    for _attempt in range(2):
        with pytest.raises(MoodleError):   # this "proxy" answers 404 to everything
            client.call(SITE_INFO)
    assert [call['path'] for call in proxy.calls()] == [moodle.url + '/webservice/rest/server.php'] * 2
    assert moodle.calls() == []


def test_no_proxy_sends_the_calls_straight_to_moodle(servers, monkeypatch):
    moodle, proxy = servers
    monkeypatch.setenv('HTTP_PROXY', proxy.url)
    monkeypatch.setenv('NO_PROXY', '127.0.0.1')
    client = MoodleClient(moodle.url, moodle.token, retries=0)
    assert client.call(SITE_INFO)['siteid'] == 1
    assert client.call(SITE_INFO)['siteid'] == 1
    assert proxy.calls() == [] and len(moodle.calls(SITE_INFO)) == 2


def test_without_proxy_variables_the_calls_go_straight_to_moodle(servers):
    moodle, proxy = servers
    assert MoodleClient(moodle.url, moodle.token, retries=0).call(SITE_INFO)['siteid'] == 1
    assert proxy.calls() == []
