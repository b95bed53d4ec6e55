from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from api import tokens


class Command(BaseCommand):
    help = (
        "Make a new API token for a user and print it (only its digest is stored, so it is shown once); "
        "--reset first revokes every token the user has."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reset", action="store_true", help="revoke the user's tokens first")

    def handle(self, *args, **options):
        User = get_user_model()
        try:
            user = User.objects.get(**{User.USERNAME_FIELD: options["username"]})
        except User.DoesNotExist:
            raise CommandError(f"No user named {options['username']!r}.")
        if not user.is_active:
            raise CommandError(f"{options['username']!r} is deactivated: an API token would not work.")
        if options["reset"]:
            revoked = tokens.revoke_all(user)
            self.stderr.write(f"revoked {revoked} token(s)")
        token, expiry = tokens.issue(user)
        self.stdout.write(token)
        self.stderr.write(f"valid until {expiry.isoformat() if expiry else 'revoked'}")
