import pytest


@pytest.mark.django_db
def test_simulator_answers_only_in_the_simulator_environment(client, settings, django_user_model):
    settings.QUICKBOOKS_ENVIRONMENT = "simulator"
    assert client.get("/simulator/").status_code == 302  # its pages need a signed-in user of the app
    client.force_login(django_user_model.objects.create_user("viewer"))
    assert client.get("/simulator/").status_code == 200
    settings.QUICKBOOKS_ENVIRONMENT = "sandbox"
    assert client.get("/simulator/").status_code == 404
    assert client.get("/simulator/oauth2/v1/tokens/bearer").status_code == 404
    settings.QUICKBOOKS_ENVIRONMENT = "production"
    assert client.get("/simulator/").status_code == 404


def test_production_settings_do_not_install_the_simulator():
    import subprocess
    import sys

    code = (
        "import os, django; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.production'; django.setup();"
        "from django.apps import apps; print(apps.is_installed('integrations.simulator'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SECRET_KEY": "x" * 50, "DJANGO_ALLOWED_HOSTS": "example.com"},
    )
    assert result.stdout.strip() == "False", result.stderr
