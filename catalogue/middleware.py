from django.utils import translation

SESSION_KEY = "mastercopy_language"


class UserLanguageMiddleware:
    """Signed-in users get the language saved on their profile, whatever the browser asks for."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated:
            if SESSION_KEY not in request.session:
                profile = getattr(user, "profile", None) if hasattr(user, "profile") else None
                request.session[SESSION_KEY] = profile.language if profile else ""
            language = request.session[SESSION_KEY]
            if language:
                translation.activate(language)
                request.LANGUAGE_CODE = translation.get_language()
        return self.get_response(request)
