"""GET /v1/Services/{ServiceSid}/Notifications/{Sid} (ours) - a notification and what became
of its deliveries."""

from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.responses.notifications import FetchedNotificationResource
from notify_bindings.operations.notifications import fetch_notification


@api_handler
def handler(request: ApiRequest) -> Response:
    notification, counts = fetch_notification(
        request.account_sid, request.service_sid, request.path_parameter("Sid")
    )
    return json_response(200, FetchedNotificationResource.fetched(notification, counts))
