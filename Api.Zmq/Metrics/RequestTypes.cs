using Butterfly.Wire;
using Google.Protobuf.Reflection;
using V0 = Butterfly.Wire.MessageV0.Types;

namespace Butterfly.Api.Zmq.Metrics;

/// <summary>The request type of an API message item, as the metrics label it: the name of its request field (<c>nic_list</c>, <c>sg_rule_add</c>, …).</summary>
internal static class RequestTypes
{
    /// <summary>A message refused as a whole before dispatch (undecodable, too large, wrong key).</summary>
    public const string Invalid = "invalid";

    /// <summary>One ZeroMQ message carrying items of several types.</summary>
    public const string Batch = "batch";

    /// <summary>An item that is not a MessageV0 request, or sets no known request field (or several).</summary>
    public const string Unknown = "unknown";

    private static readonly FieldDescriptor[] Fields = [.. V0.Request.Descriptor.Fields.InFieldNumberOrder()];

    public static string Of(Message item)
    {
        if (item.Message0?.Request is not { } request)
        {
            return Unknown;
        }
        string? name = null;
        foreach (var field in Fields)
        {
            if (field.Accessor.HasValue(request))
            {
                if (name is not null)
                {
                    return Unknown;
                }
                name = field.Name;
            }
        }
        return name ?? Unknown;
    }
}
