from django.core.management.base import BaseCommand, CommandError

from integrations.services.keys import token_keys_rotate


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored QuickBooks token under the newest key in QUICKBOOKS_TOKEN_KEYS. "
        "Afterwards the older keys can be removed."
    )

    def handle(self, *args, **options):
        report = token_keys_rotate()
        self.stdout.write(
            f"Re-encrypted {report.ciphers} token cipher(s) in {report.rows} row(s); "
            f"{report.were_under_older_key} were under an older key."
        )
        if report.undecryptable:
            raise CommandError(
                f"{report.undecryptable} cipher(s) could not be decrypted with any configured key and were left "
                "as they are. Put the missing key back at the end of QUICKBOOKS_TOKEN_KEYS and run again."
            )
        self.stdout.write(self.style.SUCCESS("All tokens are now under the newest key; older keys can be removed."))
