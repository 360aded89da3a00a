#    Licensed under the Apache License, Version 2.0 (the "License"); you may
#    not use this file except in compliance with the License. You may obtain
#    a copy of the License at
#
#         http://www.apache.org/licenses/LICENSE-2.0
#
#    Unless required by applicable law or agreed to in writing, software
#    distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
#    WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
#    License for the specific language governing permissions and limitations
#    under the License.
#
"""Which samples of a Prometheus answer may be rated.

The answer's shape is checked by the client base; its contents come from
the metrics backend and are not trusted. A sample is dropped, with one
WARNING naming the metric, the scope and its labels, when:

* a label value is not a string: it could not be a group or metadata;
* it carries a scope label that is not the scope asked: rating it would
  bill one project for another's usage (a sample without the label
  belongs to the scope its query selected);
* its value is NaN or infinite (Prometheus' answer to a division by
  zero): no price can be computed from it, and failing the period would
  not help, since the same stored data gives the same value on every
  retry, and the scope would never advance.
"""
import decimal

from oslo_log import log

from cloudkitty.common import prometheus_errors

LOG = log.getLogger(__name__)

__all__ = ['rateable', 'by_scope']


def _labels(sample):
    return prometheus_errors.excerpt(sample['metric'])


def _reason(sample, scope_key, scope_id):
    """Why ``sample`` is not rated for ``scope_id``; None if it is."""
    labels = sample['metric']
    if not all(isinstance(value, str) for value in labels.values()):
        return ('a label value is not a string: check the exporter of '
                'the metric')
    if labels.get(scope_key, scope_id) != scope_id:
        return ('its %s label is not the scope asked: check the metric\'s '
                'query_prefix and query_suffix' % scope_key)
    if not decimal.Decimal(sample['value'][1]).is_finite():
        return ('its value is %s, which cannot be rated: check the metric '
                'definition (a division by zero gives NaN or Inf)'
                % prometheus_errors.excerpt(sample['value'][1], 20))
    return None


def _keep(sample, metric_name, scope_key, scope_id):
    reason = _reason(sample, scope_key, scope_id)
    if reason is None:
        return True
    LOG.warning('Metric %s, scope %s: a sample with labels %s is not '
                'rated: %s', metric_name,
                prometheus_errors.excerpt(scope_id, 100), _labels(sample),
                reason)
    return False


def rateable(result, metric_name, scope_key, scope_id):
    """The samples of one scope's answer that may be rated.

    :param result: the answer's list of samples (``metric``, ``value``)
    :param metric_name: the metric, as log lines name it
    :param scope_key: the scope label (``[collect] scope_key``)
    :param scope_id: the scope asked
    :returns: the samples kept, in order; each dropped one is logged
    """
    return [sample for sample in result
            if _keep(sample, metric_name, scope_key, scope_id)]


def by_scope(result, metric_name, scope_key):
    """The samples of an answer for every scope, split by scope.

    :param result: the answer's list of samples
    :param metric_name: the metric, as log lines name it
    :param scope_key: the scope label the answer is grouped by
    :returns: ``{scope_id: samples}`` of the samples that may be rated;
        a sample without a string scope label is logged and dropped
    """
    split = {}
    for sample in result:
        scope_id = sample['metric'].get(scope_key)
        if not isinstance(scope_id, str):
            LOG.warning('Metric %s: a sample with labels %s is not rated: '
                        'it has no %s label that is a string',
                        metric_name, _labels(sample), scope_key)
            continue
        if _keep(sample, metric_name, scope_key, scope_id):
            split.setdefault(scope_id, []).append(sample)
    return split
