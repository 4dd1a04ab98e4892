using Butterfly.Wire;

namespace Butterfly.Cli.Commands;

/// <summary>Builds request envelopes: one <c>Message</c> (revision 6) per <c>MessageV0.Request</c>.</summary>
internal static class Requests
{
    public static Messages Of(params MessageV0.Types.Request[] requests) => Of(requests, null);

    public static Messages Of(IEnumerable<MessageV0.Types.Request> requests, IReadOnlyList<string>? messageIds)
    {
        var messages = new Messages();
        var i = 0;
        foreach (var request in requests)
        {
            var m0 = new MessageV0 { Request = request };
            if (messageIds is not null)
                m0.MessageId = messageIds[i];
            messages.Messages_.Add(new Message { Revision = WireProtocol.Revision, Message0 = m0 });
            i++;
        }
        return messages;
    }

    /// <summary>The response of reply message <paramref name="index"/> (present once checked).</summary>
    public static MessageV0.Types.Response Response(Messages reply, int index = 0) =>
        reply.Messages_[index].Message0.Response;
}
