# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS: certificates are verified by default; ca_path and validate_certs=False work."""

import pytest

from ansible_collections.cemu.moodle.plugins.module_utils.client import MoodleClient, MoodleTransportError
from tests.unit.http_fixtures import StubMoodle, write_self_signed_cert

SITE_INFO = 'core_webservice_get_site_info'


@pytest.fixture(scope='module')
def cert_files(tmp_path_factory):
    return write_self_signed_cert(str(tmp_path_factory.mktemp('tls')))


@pytest.fixture
def https_stub(cert_files):
    with StubMoodle(tls_files=cert_files) as server:
        server.on(SITE_INFO, lambda params: {'siteid': 1, 'release': '4.5', 'functions': []})
        yield server


def test_self_signed_certificate_is_refused_by_default(https_stub):
    client = MoodleClient(https_stub.url, https_stub.token, retries=3, backoff=0)
    with pytest.raises(MoodleTransportError) as caught:
        client.call(SITE_INFO, idempotent=True)
    text = str(caught.value)
    assert caught.value.errorcode == 'tlserror'
    assert 'certificate verif' in text
    assert 'ca_path' in text and 'validate_certs' in text
    assert https_stub.calls() == []  # the handshake failed: Moodle never saw the token


def test_validate_certs_false_accepts_the_certificate(https_stub):
    client = MoodleClient(https_stub.url, https_stub.token, validate_certs=False)
    assert client.call(SITE_INFO)['siteid'] == 1


def test_ca_path_pointing_at_the_certificate_verifies_it(https_stub, cert_files):
    client = MoodleClient(https_stub.url, https_stub.token, ca_path=cert_files[0])
    assert client.call(SITE_INFO)['siteid'] == 1


def test_ca_path_with_another_ca_still_refuses(https_stub, tmp_path):
    other_cert, _key = write_self_signed_cert(str(tmp_path))
    client = MoodleClient(https_stub.url, https_stub.token, ca_path=other_cert)
    with pytest.raises(MoodleTransportError) as caught:
        client.call(SITE_INFO)
    assert 'certificate verif' in str(caught.value)
    assert other_cert in str(caught.value)


def test_ca_path_that_is_no_file_is_refused_naming_ca_path(tmp_path):
    missing = str(tmp_path / 'no-such-ca.pem')
    with pytest.raises(MoodleTransportError) as caught:
        MoodleClient('https://moodle.example.edu', 'x' * 32, ca_path=missing)
    assert caught.value.errorcode == 'tlserror'
    assert 'ca_path %s is not a file' % missing in str(caught.value)
