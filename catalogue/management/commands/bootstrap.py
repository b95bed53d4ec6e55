import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand

from catalogue.roles import ADMINISTRATOR, ensure_roles


class Command(BaseCommand):
    help = (
        "Create the role groups and, if there is no administrator yet, a first one with a generated password."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")
        parser.add_argument("--url", default="http://127.0.0.1:8000/")

    def handle(self, *args, **options):
        ensure_roles()
        User = get_user_model()
        admins = User.objects.filter(groups__name=ADMINISTRATOR) | User.objects.filter(is_superuser=True)
        if admins.exists():
            self.stdout.write(
                f"Administrator account(s) exist: {', '.join(sorted({u.username for u in admins}))}. "
                f"Forgot the password? python manage.py changepassword {admins.first().username}"
            )
            return
        password = secrets.token_urlsafe(12)
        user = User.objects.create_superuser(options["username"], email="", password=password)
        user.groups.add(Group.objects.get(name=ADMINISTRATOR))
        banner = "=" * 64
        self.stdout.write(
            self.style.SUCCESS(
                f"{banner}\nFirst administrator created. Log in at {options['url']}\n"
                f"  username: {user.username}\n  password: {password}\n"
                f"(shown once; change it with: python manage.py changepassword {user.username})\n{banner}"
            )
        )
