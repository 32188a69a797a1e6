from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        # Imported once the apps are loaded: the middleware module reads the models.
        from django.contrib.auth.signals import user_logged_in

        from .middleware import start_session_clock

        # The absolute session lifetime counts from the login itself.
        user_logged_in.connect(start_session_clock, dispatch_uid="accord.start_session_clock")
