"""POST /v1/Services/{ServiceSid}/Notifications - send a notification (201 at once; it is
delivered asynchronously)."""

from notify_bindings import dependencies
from notify_bindings.api.handler import Response, api_handler, json_response
from notify_bindings.api.request import ApiRequest
from notify_bindings.api.requests.notifications import CreateNotificationForm
from notify_bindings.api.responses.notifications import NotificationResource
from notify_bindings.operations.notifications import create_notification, new_notification_sid


@api_handler
def handler(request: ApiRequest) -> Response:
    form = request.form(CreateNotificationForm)
    sid, now = new_notification_sid(), dependencies.now()
    notification = form.notification(sid, request.account_sid, request.service_sid, now)
    return json_response(201, NotificationResource.of(create_notification(notification)))
